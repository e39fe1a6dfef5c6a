//go:build !linux

package plugins

import "os/exec"

// orphanGuard has no portable equivalent of Linux's Pdeathsig; Close and
// go-plugin's own shutdown are what end the plugin there.
func orphanGuard(*exec.Cmd) {}

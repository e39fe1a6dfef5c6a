package plugins

import (
	"os/exec"
	"syscall"
)

// orphanGuard makes the kernel kill the plugin if the host dies without
// calling Close (SIGKILL, a crash), so a plugin never outlives its host.
// Pdeathsig fires when the forking OS thread exits, which is why the
// supervisor that launches plugins keeps its thread locked for its lifetime.
func orphanGuard(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

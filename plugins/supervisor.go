package plugins

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"runtime"
	"time"

	"github.com/hashicorp/go-plugin"

	"github.com/webrtc-broker/webrtc-broker/core/backoff"
	"github.com/webrtc-broker/webrtc-broker/plugins/proto"
	"github.com/webrtc-broker/webrtc-broker/plugins/sdk"
)

const (
	// startTimeout bounds a plugin's start: exec, handshake and Configure
	// (host.start; tests set their own).
	startTimeout = 10 * time.Second
	// pollInterval is how often the supervisor looks whether the process
	// exited; a failing call wakes it sooner.
	pollInterval = 100 * time.Millisecond
	// Restart backoff (core/backoff): doubles from minBackoff up to
	// maxBackoff, jittered.
	minBackoff = 100 * time.Millisecond
	maxBackoff = 10 * time.Second
)

// instance is one running plugin process.
type instance struct {
	client *plugin.Client
	rpc    proto.AuthClient
	pid    int
}

// supervise owns the plugin process: it launches it, reports the first
// launch's outcome on started, restarts it with backoff whenever it exits,
// and kills it when the host's life ends (Close). It runs on a locked OS thread because the
// kernel's parent-death signal (orphanGuard) is tied to the forking thread.
func (h *host) supervise(ctx context.Context, started chan<- error) {
	runtime.LockOSThread()
	// The thread is never unlocked: when this goroutine returns, Go ends it,
	// and only after the plugin has been killed.
	defer close(h.done)

	inst, err := h.launch(ctx)
	if err == nil {
		h.setRunning(inst) // before NewAuthenticator returns: its caller may call at once
	}
	started <- err
	if err != nil {
		return
	}
	for {
		if !h.waitExit(inst) {
			h.cur.Store(nil)
			h.m.up.Set(0)
			inst.client.Kill()
			h.logger.Debug("auth plugin stopped", slog.Int("pid", inst.pid))
			return
		}
		h.cur.Store(nil)
		h.m.up.Set(0)
		inst.client.Kill() // reaps the process and go-plugin's goroutines
		h.logger.Error("auth plugin exited: denying every authentication until it is restarted",
			slog.Int("pid", inst.pid))
		if inst = h.restart(); inst == nil {
			return
		}
		h.m.restarts.Inc()
		h.setRunning(inst)
		h.logger.Info("auth plugin restarted", slog.Int("pid", inst.pid))
	}
}

func (h *host) setRunning(inst *instance) {
	h.cur.Store(inst)
	h.m.up.Set(1)
}

// waitExit returns true when inst's process has exited, false when the host
// is closing.
func (h *host) waitExit(inst *instance) bool {
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		select {
		case <-h.stop:
			return false
		case <-tick.C:
		case <-h.kick:
		}
		if inst.client.Exited() {
			return true
		}
	}
}

// restart launches the plugin again until it runs, waiting a growing,
// jittered delay between attempts. It returns nil when the host is closing;
// Close also cuts short an attempt in progress (its context is the host's
// life).
func (h *host) restart() *instance {
	b := backoff.Backoff{Min: minBackoff, Max: maxBackoff}
	wait := b.Next()
	for attempt := 1; ; attempt++ {
		if !backoff.Wait(h.stop, wait) {
			return nil
		}
		ctx, cancel := context.WithTimeout(h.life, h.start)
		inst, err := h.launch(ctx)
		cancel()
		if err == nil {
			return inst
		}
		wait = b.Next()
		h.logger.Error("auth plugin restart failed", slog.Int("attempt", attempt),
			slog.Duration("next_in", wait), slog.Any("err", err))
	}
}

// launch starts one plugin process, checks its checksum and handshake, and
// sends it its config. On any error nothing is left running.
func (h *host) launch(ctx context.Context) (_ *instance, err error) {
	if h.sum != nil {
		if err := verifyChecksum(h.path, h.sum); err != nil {
			return nil, err
		}
	}
	cmd := exec.Command(h.path)
	orphanGuard(cmd)
	cfg := &plugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake,
		Plugins:          plugin.PluginSet{sdk.PluginName: &sdk.GRPCPlugin{}},
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		StartTimeout:     h.start,
		Logger:           &hclogAdapter{logger: h.logger, name: h.name},
		SyncStderr:       &lineLogger{logger: h.logger},
		// Not Managed: go-plugin's CleanupClients would only duplicate Close,
		// and its list of managed clients grows with every restart.
	}
	if h.sum != nil {
		cfg.SecureConfig = &plugin.SecureConfig{Checksum: h.sum, Hash: sha256.New()}
	}
	client := plugin.NewClient(cfg)
	defer func() {
		if err != nil {
			client.Kill()
		}
	}()
	cp, err := client.Client()
	if err != nil {
		if errors.Is(err, plugin.ErrChecksumsDoNotMatch) {
			// The file changed between our check and go-plugin's.
			return nil, verifyChecksum(h.path, h.sum)
		}
		return nil, fmt.Errorf("auth plugin %s: start and handshake: %w", h.path, err)
	}
	raw, err := cp.Dispense(sdk.PluginName)
	if err != nil {
		return nil, fmt.Errorf("auth plugin %s: %w: %w", h.path, errDispense, err)
	}
	rpc, ok := raw.(proto.AuthClient)
	if !ok {
		return nil, fmt.Errorf("auth plugin %s: %w", h.path, errDispense)
	}
	cctx, cancel := context.WithTimeout(ctx, h.start)
	defer cancel()
	if _, err := rpc.Configure(cctx, &proto.ConfigureRequest{ConfigJson: h.config}); err != nil {
		return nil, fmt.Errorf("auth plugin %s rejected auth.config: %w", h.path, err)
	}
	pid := 0
	if rc := client.ReattachConfig(); rc != nil {
		pid = rc.Pid
	}
	return &instance{client: client, rpc: rpc, pid: pid}, nil
}

// configJSON encodes auth.config for Configure.
func configJSON(cfg map[string]any) ([]byte, error) {
	if cfg == nil {
		cfg = map[string]any{}
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errBadConfig, err)
	}
	return b, nil
}

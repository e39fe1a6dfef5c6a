package luahost

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/webrtc-broker/webrtc-broker/core/topicpattern"
)

// debounce gathers the burst of events one save makes (editors write a
// temporary file, rename it, change its mode) into one reload.
const debounce = 75 * time.Millisecond

// isScript says whether a directory entry is a policy script: a *.lua file
// that is not hidden (editor swap files) and not a test helper.
func isScript(name string) bool {
	return strings.HasSuffix(name, ".lua") && !strings.HasPrefix(name, ".") && !strings.HasSuffix(name, "_test.lua")
}

// reload reads the directory again and swaps in, in one step, every script
// that was added or changed, without those that were removed. A script that
// does not load keeps its previous version in force (a new one stays out);
// the returned error lists those, each a *LoadError with file and line, and
// each is logged. Calls in flight finish on the scripts they started with.
func (h *Host) reload() error {
	h.reloadMu.Lock()
	defer h.reloadMu.Unlock()

	old := h.snap.Load()
	entries, err := os.ReadDir(h.opts.Dir)
	if err != nil {
		h.metrics.reloads.WithLabelValues("error").Inc()
		h.log.Error("policy scripts not reloaded; all stay in force", "dir", h.opts.Dir, "err", err)
		return fmt.Errorf("read scripts directory: %w", err)
	}
	prev := make(map[string]*script, len(old.scripts))
	for _, s := range old.scripts {
		prev[s.name] = s
	}

	var (
		next    []*script
		errs    []error
		changed bool
	)
	for _, e := range entries { // ReadDir sorts by name: that is the run order
		name := e.Name()
		if !isScript(name) || (h.opts.only != nil && !h.opts.only[name]) {
			continue
		}
		path := filepath.Join(h.opts.Dir, name)
		was := prev[name]
		src, err := readScript(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed while we read the directory
		}
		if err == nil && was != nil && bytes.Equal(src, was.src) {
			next = append(next, was)
			continue
		}
		var s *script
		if err == nil {
			st := h.stores[name]
			if st == nil {
				st = newStore()
			}
			s, err = compileScript(h, path, src, st)
			if err == nil {
				h.stores[name] = st
			}
		}
		if err != nil {
			le := loadError(path, name, err)
			errs = append(errs, le)
			h.metrics.reloads.WithLabelValues("error").Inc()
			kept := "none (the script is not in force)"
			if was != nil {
				next = append(next, was)
				kept = "previous version stays in force"
			}
			h.log.Error("policy script not loaded", "file", le.File, "line", le.Line, "err", le.Msg, "kept", kept)
			continue
		}
		h.metrics.reloads.WithLabelValues("ok").Inc()
		h.log.Info("policy script loaded", "file", path, "topics", patternTexts(s.patterns),
			"hooks", s.hookList(), "failure", s.failureMode(),
			"timeout", s.timeout, "replaces", was != nil)
		next = append(next, s)
		changed = true
	}

	inNext := make(map[*script]bool, len(next))
	for _, s := range next {
		inNext[s] = true
	}
	names := make(map[string]bool, len(next))
	for _, s := range next {
		names[s.name] = true
	}
	for name := range prev {
		if !names[name] {
			changed = true
			delete(h.stores, name)
			h.metrics.forget(name)
			h.log.Info("policy script removed", "file", filepath.Join(h.opts.Dir, name))
		}
	}
	if changed {
		h.snap.Store(newSnapshot(next))
		h.metrics.scripts.Set(float64(len(next)))
		for _, s := range old.scripts {
			if !inNext[s] {
				s.retire()
			}
		}
	}
	return errors.Join(errs...)
}

func readScript(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	src, err := io.ReadAll(io.LimitReader(f, maxScriptBytes+1))
	if err != nil {
		return nil, err
	}
	if len(src) > maxScriptBytes {
		return nil, fmt.Errorf("%w: over %d bytes", errTooLarge, maxScriptBytes)
	}
	return src, nil
}

func patternTexts(ps []topicpattern.Pattern) []string {
	out := make([]string, len(ps))
	for i := range ps {
		out[i] = ps[i].String()
	}
	return out
}

func (s *script) hookList() []string {
	var out []string
	for h := range numHooks {
		if s.hooks[h] {
			out = append(out, hookNames[h])
		}
	}
	return out
}

func (h *Host) newWatcher() (*fsnotify.Watcher, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("lua host: watch scripts: %w", err)
	}
	if err := w.Add(h.opts.Dir); err != nil {
		w.Close()
		return nil, fmt.Errorf("lua host: watch %s: %w", h.opts.Dir, err)
	}
	return w, nil
}

// watch reloads after each burst of changes in the directory until ctx is
// done. Any event counts (not only *.lua names): deployments that swap a
// symlinked directory, like Kubernetes ConfigMaps, rename other entries.
// reload skips unchanged files, so a spurious event costs a directory read.
func (h *Host) watch(ctx context.Context, w *fsnotify.Watcher) {
	defer w.Close()
	t := time.NewTimer(time.Hour)
	t.Stop()
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			if ev.Op == fsnotify.Chmod {
				continue
			}
			t.Reset(debounce)
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			h.log.Warn("watching policy scripts", "dir", h.opts.Dir, "err", err)
		case <-t.C:
			_ = h.reload() // each failure is logged by reload
		}
	}
}

package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/webrtc-broker/webrtc-broker/core/clusterauth"
	"github.com/webrtc-broker/webrtc-broker/internal/natsembed"
)

func init() {
	register(subcommand{name: "cluster", usage: "run a local cluster (coordinator + servers) on loopback: make run", run: runCluster})
}

// secretEnv is the environment variable the processes read cluster.secret
// from.
const secretEnv = "BROKER_CLUSTER__SECRET"

// runCluster starts bin/coordinator and N bin/commserver processes on
// loopback, all with one cluster.secret (so that the coordinator admits the
// servers and the servers each other), prefixes each process's output with
// its name, and stops them all when ctx ends (Ctrl-C) or when any of them
// exits.
func runCluster(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("cluster", "[flags]")
	servers := fs.Int("servers", 2, "communication servers to start")
	listen := fs.String("listen", "127.0.0.1:9090", "coordinator listen address")
	binDir := fs.String("bin", "", "directory of the coordinator and commserver binaries (default: next to brokerctl)")
	firstHTTP := fs.Int("http-port", 9191, "metrics/health port of the first server; the next servers count up (0 disables)")
	selector := fs.String("selector", "random", "coordinator selector: random, least-loaded, star (star makes server 1 the hub)")
	scripts := fs.String("scripts", "", "Lua rules directory for every server (scripts.dir)")
	logLevel := fs.String("log-level", "info", "log.level of every process")
	secret := fs.String("secret", os.Getenv(secretEnv), "cluster.secret of every process (default: $"+secretEnv+", else a new random one)")
	demo := fs.Bool("demo", true, "serve the browser demo at /demo on the coordinator (demo.enabled)")
	useNATS := fs.Bool("nats", false, "relay between servers through an embedded NATS server on 127.0.0.1 (cluster.transport=nats)")
	natsPort := fs.Int("nats-port", 0, "client port of the embedded NATS server (0: a free one)")
	coordinators := fs.Int("coordinators", 1, "coordinators to start (1..16), on --listen's port and the ones after it; every server registers at all")
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	coordAddrs, err := coordinatorAddrs(*listen, *coordinators)
	if err != nil {
		fmt.Fprintln(stderr, "cluster:", err)
		return 2
	}
	if *useNATS && *selector == "star" {
		fmt.Fprintln(stderr, "cluster: --nats makes no server links, so there is no star: use random or least-loaded")
		return 2
	}
	if *secret == "" {
		s, err := clusterauth.NewSecret()
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		*secret = s
	}
	if err := clusterauth.Check(*secret); err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	if *binDir == "" {
		exe, err := os.Executable()
		if err != nil {
			fmt.Fprintf(stderr, "find binaries: %v\n", err)
			return 1
		}
		*binDir = filepath.Dir(exe)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	out := &lockedWriter{w: stdout}
	var wg sync.WaitGroup
	start := func(name string, argv ...string) error {
		cmd := exec.Command(filepath.Join(*binDir, argv[0]), argv[1:]...)
		// In the environment, not the arguments, which every local user
		// can read in the process list.
		cmd.Env = append(os.Environ(), secretEnv+"="+*secret)
		pipe, err := cmd.StdoutPipe()
		if err != nil {
			return fmt.Errorf("start %s: %w", name, err)
		}
		cmd.Stderr = cmd.Stdout
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("start %s: %w", name, err)
		}
		wg.Add(2)
		go func() { // copies output until the process closes it
			defer wg.Done()
			sc := bufio.NewScanner(pipe)
			sc.Buffer(make([]byte, 64*1024), 1024*1024)
			for sc.Scan() {
				out.line(fmt.Sprintf("%-12s %s", "["+name+"]", sc.Text()))
			}
		}()
		go func() { // stops the process when the cluster stops, and the cluster when the process exits
			defer wg.Done()
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case <-ctx.Done():
				_ = cmd.Process.Signal(syscall.SIGTERM)
				select {
				case <-done:
				case <-time.After(10 * time.Second):
					_ = cmd.Process.Kill()
					<-done
				}
			case err := <-done:
				out.line(fmt.Sprintf("%-12s exited: %v", "["+name+"]", err))
				cancel()
			}
		}()
		return nil
	}

	var natsURL string
	if *useNATS {
		ns, err := startEmbeddedNATS(*natsPort, *logLevel, out)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		// Stopped after the servers (wg.Wait below), so they never see it go.
		defer ns.Shutdown()
		natsURL = ns.ClientURL()
		out.line(fmt.Sprintf("%-12s NATS server on %s", "[nats]", natsURL))
	}

	common := []string{"--set", "log.level=" + *logLevel}
	var coordURLs []string
	for i, addr := range coordAddrs {
		coordArgs := []string{"coordinator", "--set", "listen=" + addr, "--set", "selector=" + *selector,
			"--set", fmt.Sprintf("demo.enabled=%t", *demo),
			"--set", fmt.Sprintf("coordinator.id=%d", i), "--set", fmt.Sprintf("coordinator.count=%d", len(coordAddrs))}
		name := "coordinator"
		if len(coordAddrs) > 1 {
			name = fmt.Sprintf("coord-%d", i)
		}
		if err := start(name, append(coordArgs, common...)...); err != nil {
			fmt.Fprintln(stderr, err)
			cancel()
			wg.Wait()
			return 1
		}
		coordURLs = append(coordURLs, "ws://"+addr)
	}
	for i := 1; i <= *servers; i++ {
		argv := append([]string{"commserver",
			"--set", "coordinator_url=" + strings.Join(coordURLs, ","),
			"--set", "webrtc.loopback_only=true",
		}, common...)
		if *firstHTTP != 0 {
			argv = append(argv, "--set", fmt.Sprintf("http.listen=127.0.0.1:%d", *firstHTTP+i-1))
		}
		if *selector == "star" && i == 1 {
			argv = append(argv, "--set", "role=hub")
		}
		if *scripts != "" {
			argv = append(argv, "--set", "scripts.dir="+*scripts)
		}
		if natsURL != "" {
			argv = append(argv, "--set", "cluster.transport=nats", "--set", "nats.url="+natsURL)
		}
		if err := start(fmt.Sprintf("server-%d", i), argv...); err != nil {
			fmt.Fprintln(stderr, err)
			cancel()
			break
		}
	}
	transport := "mesh"
	if natsURL != "" {
		transport = "NATS at " + natsURL
	}
	out.line(fmt.Sprintf("cluster: coordinator %s, %d servers (%s); Ctrl-C stops them all", strings.Join(coordURLs, " "), *servers, transport))
	if *demo {
		out.line(fmt.Sprintf("cluster: demo at http://%s/demo (open it in several tabs)", *listen))
	}
	<-ctx.Done()
	wg.Wait()
	out.line("cluster: stopped")
	return 0
}

// coordinatorAddrs are the listen addresses of n coordinators: listen, and
// the ports after it on the same host.
func coordinatorAddrs(listen string, n int) ([]string, error) {
	if n < 1 || n > 16 {
		return nil, fmt.Errorf("--coordinators %d: want 1 to 16", n)
	}
	if n == 1 {
		return []string{listen}, nil
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("--listen %q: %w", listen, err)
	}
	first, err := strconv.Atoi(port)
	if err != nil || first <= 0 || first+n-1 > 65535 {
		return nil, fmt.Errorf("--listen %q: several coordinators need a fixed port, the next %d free after it", listen, n-1)
	}
	addrs := make([]string, n)
	for i := range addrs {
		addrs[i] = net.JoinHostPort(host, strconv.Itoa(first+i))
	}
	return addrs, nil
}

// startEmbeddedNATS runs the one-machine NATS server of --nats in this
// process, on 127.0.0.1, its log lines prefixed [nats].
func startEmbeddedNATS(port int, level string, out *lockedWriter) (*natsembed.Server, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		lvl = slog.LevelInfo
	}
	h := slog.NewTextHandler(lineWriter{out: out, prefix: "[nats]"}, &slog.HandlerOptions{Level: lvl})
	ns, err := natsembed.Start(natsembed.Config{Port: port, Name: "brokerctl-nats", Logger: slog.New(h)})
	if err != nil {
		return nil, fmt.Errorf("cluster: embedded NATS: %w", err)
	}
	return ns, nil
}

// lineWriter writes each line it is given as one prefixed output line.
type lineWriter struct {
	out    *lockedWriter
	prefix string
}

func (w lineWriter) Write(p []byte) (int, error) {
	for line := range strings.SplitSeq(strings.TrimRight(string(p), "\n"), "\n") {
		w.out.line(fmt.Sprintf("%-12s %s", w.prefix, line))
	}
	return len(p), nil
}

// lockedWriter keeps the lines of several processes whole.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) line(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintln(l.w, s)
}

package plugins_test

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/webrtc-broker/webrtc-broker/core/auth"
	"github.com/webrtc-broker/webrtc-broker/internal/testwait"
	"github.com/webrtc-broker/webrtc-broker/plugins"
)

// hostModeEnv, when set to a plugin path, makes this test binary a host that
// starts the plugin, prints its pid and waits to be killed.
const hostModeEnv = "PLUGINS_TEST_HOST_PLUGIN"

func runAsHost() {
	a, err := plugins.NewAuthenticator(context.Background(), auth.Config{Plugin: os.Getenv(hostModeEnv)},
		slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	res, err := a.Authenticate(context.Background(), body(client, "who are you"))
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println(string(res.Identity))
	select {} // until killed
}

func TestPluginDiesWithAHostThatCrashes(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("relies on Linux's parent-death signal")
	}
	host := exec.Command(os.Args[0])
	host.Env = append(os.Environ(), hostModeEnv+"="+bin["scripted"])
	out, err := host.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := host.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = host.Process.Kill(); _ = host.Wait() })

	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(out).ReadString('\n')
		line <- strings.TrimSpace(s)
	}()
	var pid int
	select {
	case s := <-line:
		if pid, err = strconv.Atoi(strings.TrimPrefix(s, "pid:")); err != nil {
			t.Fatalf("host said %q", s)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the host did not report its plugin's pid")
	}
	if !processAlive(pid) {
		t.Fatalf("plugin %d not running under its host", pid)
	}

	// SIGKILL: the host gets no chance to Close.
	if err := host.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = host.Wait()
	testwait.For(t, 5*time.Second, fmt.Sprintf("plugin %d ends with its host", pid), func() bool { return !processAlive(pid) })
}

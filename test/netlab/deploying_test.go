package netlab

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// The README's Deploying section and the sample configs it shows are kept
// true by these tests: each `# file:` block is its file, each file loads in
// the binary it is for, and the lab runs a coordinator and servers from them.

// The repository's root, seen from this package, and the samples' home.
const (
	repoRoot   = "../.."
	samplesDir = "cmd/examples/deploy"
)

// pendingSamples use keys other work is adding (TLS, TURN, drain). Until
// those land the binaries must refuse them as unknown keys; once a sample
// loads, this test fails so that it is moved out of here and into the lab.
var pendingSamples = map[string]bool{}

// sampleBinary is the binary a sample config is for, by its name.
func sampleBinary(name string) string {
	if strings.HasPrefix(name, "coordinator") {
		return "coordinator"
	}
	return "commserver"
}

var fileBlock = regexp.MustCompile("(?s)```yaml\n# file: ([^\n]+)\n(.*?)```\n")

// readmeSamples returns the README's Deploying section's `# file:` blocks,
// by path.
func readmeSamples(t *testing.T) map[string]string {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok1 := strings.Cut(string(readme), "<!-- deploying:begin -->")
	section, _, ok2 := strings.Cut(rest, "<!-- deploying:end -->")
	if !ok1 || !ok2 {
		t.Fatal("README.md: no <!-- deploying:begin --> ... <!-- deploying:end --> section")
	}
	blocks := map[string]string{}
	for _, m := range fileBlock.FindAllStringSubmatch(section, -1) {
		if _, dup := blocks[m[1]]; dup {
			t.Errorf("README.md: %s shown twice", m[1])
		}
		blocks[m[1]] = m[2]
	}
	return blocks
}

func TestLabDeployingREADME(t *testing.T) {
	blocks := readmeSamples(t)
	entries, err := os.ReadDir(filepath.Join(repoRoot, samplesDir))
	if err != nil {
		t.Fatal(err)
	}
	var configs []string
	for _, e := range entries {
		if e.Name() != "kubernetes.yaml" {
			configs = append(configs, e.Name())
		}
	}
	for _, name := range configs {
		path := samplesDir + "/" + name
		file, err := os.ReadFile(filepath.Join(repoRoot, path))
		if err != nil {
			t.Fatal(err)
		}
		block, shown := blocks[path]
		delete(blocks, path)
		switch {
		case !shown:
			t.Errorf("%s is not shown in the README's Deploying section", path)
		case block != string(file):
			t.Errorf("README.md's block for %s differs from the file:\n--- README\n%s--- file\n%s", path, block, file)
		}
		t.Run(name, func(t *testing.T) { checkSampleLoads(t, name) })
	}
	for path := range blocks {
		t.Errorf("README.md shows %s, which is not a sample file", path)
	}
	for name := range pendingSamples {
		if !slices.Contains(configs, name) {
			t.Errorf("pending sample %s does not exist", name)
		}
	}
	checkManifest(t)
}

// checkSampleLoads runs the sample's binary with --config FILE
// --print-config: it must exit 0, or for a pending sample refuse unknown
// keys.
func checkSampleLoads(t *testing.T, name string) {
	path, err := filepath.Abs(filepath.Join(repoRoot, samplesDir, name))
	if err != nil {
		t.Fatal(err)
	}
	binary := sampleBinary(name)
	cmd := exec.Command(filepath.Join(bin, binary), "--config", path, "--print-config")
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case err != nil && !errors.As(err, &exit):
		t.Fatalf("%s: %v", binary, err)
	case pendingSamples[name] && err == nil:
		t.Errorf("%s now loads in %s: the keys it waits for have landed; take it out of pendingSamples and start it in the lab",
			name, binary)
	case pendingSamples[name] && !strings.Contains(stderr.String(), "invalid keys"):
		t.Errorf("%s (pending) fails in %s, but not for unknown keys: %v: %s", name, binary, err, stderr.String())
	case !pendingSamples[name] && err != nil:
		t.Errorf("%s --config %s --print-config: %v: %s", binary, name, err, stderr.String())
	}
}

// checkManifest: the Kubernetes manifest carries the coordinator's and the
// server's samples verbatim in its ConfigMap, runs the servers with host
// networking, and opens the server sample's UDP port on the node.
func checkManifest(t *testing.T) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot, samplesDir, "kubernetes.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	type container struct {
		Ports []struct {
			ContainerPort int    `yaml:"containerPort"`
			HostPort      int    `yaml:"hostPort"`
			Protocol      string `yaml:"protocol"`
		} `yaml:"ports"`
	}
	type object struct {
		Kind     string                `yaml:"kind"`
		Metadata struct{ Name string } `yaml:"metadata"`
		Data     map[string]string     `yaml:"data"`
		Spec     struct {
			Template struct {
				Spec struct {
					HostNetwork bool        `yaml:"hostNetwork"`
					Containers  []container `yaml:"containers"`
				} `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
	var config, daemons []object
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	for {
		var o object
		if err := dec.Decode(&o); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("kubernetes.yaml: %v", err)
		}
		switch o.Kind {
		case "ConfigMap":
			config = append(config, o)
		case "DaemonSet":
			daemons = append(daemons, o)
		}
	}
	if len(config) != 1 || len(daemons) != 1 {
		t.Fatalf("kubernetes.yaml: %d ConfigMaps and %d DaemonSets, want one of each", len(config), len(daemons))
	}
	for key, sample := range map[string]string{"coordinator.yaml": "coordinator.yaml", "commserver.yaml": "server-kubernetes.yaml"} {
		want, err := os.ReadFile(filepath.Join(repoRoot, samplesDir, sample))
		if err != nil {
			t.Fatal(err)
		}
		if got := config[0].Data[key]; got != string(want) {
			t.Errorf("kubernetes.yaml: ConfigMap %s differs from %s:\n%s", key, sample, got)
		}
	}
	var server struct {
		WebRTC struct {
			UDPMuxPort int `yaml:"udp_mux_port"`
		} `yaml:"webrtc"`
	}
	if err := yaml.Unmarshal([]byte(config[0].Data["commserver.yaml"]), &server); err != nil {
		t.Fatal(err)
	}
	spec := daemons[0].Spec.Template.Spec
	if !spec.HostNetwork {
		t.Error("kubernetes.yaml: the DaemonSet does not use host networking")
	}
	open := false
	for _, c := range spec.Containers {
		for _, p := range c.Ports {
			open = open || p.Protocol == "UDP" && p.HostPort == server.WebRTC.UDPMuxPort && p.ContainerPort == p.HostPort
		}
	}
	if !open {
		t.Errorf("kubernetes.yaml: the DaemonSet does not declare %s", fmt.Sprintf("%d/udp on the host", server.WebRTC.UDPMuxPort))
	}
}

// startSample starts binary on h from a sample config, with only the
// per-host overrides the README's Deploying section tells an operator to
// make; cluster.secret comes from the environment, as it says.
func startSample(t *testing.T, h *Host, binary, sample string, overrides ...string) *Proc {
	t.Helper()
	path, err := filepath.Abs(filepath.Join(repoRoot, samplesDir, sample))
	if err != nil {
		t.Fatal(err)
	}
	return h.start(t, isDebugLine, filepath.Join(bin, binary), append([]string{"--config", path}, sets(overrides)...)...)
}

// TestLabDeploying runs the README's samples on the lab: the coordinator,
// a server on one UDP port, one with a port range and one behind a 1:1 NAT,
// meshed over those ports, with clients on every server exchanging
// reliable messages.
func TestLabDeploying(t *testing.T) {
	if clusterSecret != "" {
		t.Setenv("BROKER_CLUSTER__SECRET", clusterSecret) // every process started below inherits it
	}
	lab := New(t)
	b := &broker{lab: lab, coordHost: lab.Host("coord")}
	b.url = "ws://" + b.coordHost.IP().String() + ":9090" // the sample listens on 0.0.0.0:9090
	b.coord = startSample(t, b.coordHost, "coordinator", "coordinator.yaml")
	b.coord.WaitLine(t, 0, startTimeout, "coordinator listening")
	natHost, router := lab.HostBehindNAT1To1("s3")
	for _, s := range []struct {
		h         *Host
		sample    string
		overrides []string
	}{
		{lab.Host("s1"), "server-single-port.yaml", nil},
		{lab.Host("s2"), "server-port-range.yaml", nil},
		{natHost, "server-nat.yaml", []string{"webrtc.nat_1to1_ips=" + router.IP().String()}},
	} {
		srv := &server{host: s.h, proc: startSample(t, s.h, "commserver", s.sample,
			append([]string{"coordinator_url=" + b.url}, s.overrides...)...)}
		srv.alias = srv.registered(t, 0)
		b.servers = append(b.servers, srv)
	}
	b.waitMesh(t, 0)
	w := b.startClients(t, lab.Host("clients"), 6, b.servers...)
	w.exchange(t, "r1", 5)
}

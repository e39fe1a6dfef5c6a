package commserver

import (
	"errors"
	"hash/maphash"
	"strings"
	"testing"
	"time"

	"github.com/webrtc-broker/webrtc-broker/core/auth"
	"github.com/webrtc-broker/webrtc-broker/core/rtcconfig"
)

func TestConfigDefaultsAndValidation(t *testing.T) {
	cfg, err := Config{}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Role != RoleServer || cfg.MaxMessageSize != 65536 || cfg.EstablishTimeout != 15*time.Second ||
		cfg.Reconnect.Min != 100*time.Millisecond || cfg.Reconnect.Max != 10*time.Second {
		t.Fatalf("defaults = %+v", cfg)
	}
	if cfg.Auth.Timeout != auth.DefaultTimeout || cfg.CoordinatorURL != "ws://127.0.0.1:9090" {
		t.Fatalf("defaults = %+v", cfg)
	}
	if cfg.Cluster.Transport != TransportMesh || cfg.NATS.PendingLimit != 65536 || cfg.NATS.SubjectPrefix != "wrb" {
		t.Fatalf("cluster/nats defaults = %+v, %+v", cfg.Cluster, cfg.NATS)
	}
	var viaNATS Config
	viaNATS.Cluster.Transport = TransportNATS
	viaNATS.NATS.URL = []string{"ftp://nats"}
	if _, err := viaNATS.withDefaults(); err == nil {
		t.Fatal("cluster.transport=nats with an ftp:// nats.url accepted")
	}
	if cfg.Shutdown.Grace != 30*time.Second || cfg.Load.Interval != 2*time.Second {
		t.Fatalf("shutdown.grace %s, load.interval %s; want 30s and 2s", cfg.Shutdown.Grace, cfg.Load.Interval)
	}
	var slow Config
	slow.Reconnect.Min = time.Minute
	if slow, err = slow.withDefaults(); err != nil || slow.Reconnect.Max != time.Minute {
		t.Fatalf("reconnect.min 1m without a max: max = %s, err %v; want 1m", slow.Reconnect.Max, err)
	}
	for _, k := range []string{"coordinator_url", "role", "max_peers", "establish_timeout", "reconnect.min",
		"outbound.reliable_bytes", "http.listen", "webrtc.loopback_only", "scripts.dir", "auth.plugin", "log.level",
		"shutdown.grace", "load.interval"} {
		if _, ok := Defaults()[k]; !ok {
			t.Errorf("Defaults() lacks %s", k)
		}
	}
	bad := []struct {
		name   string
		adjust func(*Config)
		want   error
	}{
		{"unknown role", func(c *Config) { c.Role = "proxy" }, errBadRole},
		{"negative max_peers", func(c *Config) { c.MaxPeers = -1 }, errNegative},
		{"negative shutdown.grace", func(c *Config) { c.Shutdown.Grace = -time.Second }, errNegative},
		{"negative load.interval", func(c *Config) { c.Load.Interval = -time.Second }, errNegative},
		{"backoff max under min", func(c *Config) { c.Reconnect.Min, c.Reconnect.Max = time.Second, time.Millisecond }, errBadBackoff},
		{"unknown transport", func(c *Config) { c.Cluster.Transport = "carrier-pigeon" }, errBadTransport},
		{"hub over nats", func(c *Config) { c.Role, c.Cluster.Transport = RoleHub, TransportNATS }, errHubOverNATS},
		{"negative outbound.max_delay", func(c *Config) { c.Outbound.MaxDelay = -time.Second }, errNegative},
		{"a world with two rates", func(c *Config) {
			c.Worlds = []WorldConfig{{Pattern: "world.*", Cell: 16, Radius: 64, Every: []int{1, 2}}}
		}, errWorldRates},
	}
	for _, tt := range bad {
		var c Config
		tt.adjust(&c)
		if _, err := c.withDefaults(); !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}
}

// TestConfigTURNAndICEServers: the turn and ICE server sections are
// validated when the server is built, not when a client first needs them.
func TestConfigTURNAndICEServers(t *testing.T) {
	cfg, err := Config{}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TURN.Enabled || cfg.TURN.ListenUDP != ":3478" || cfg.TURN.Realm != "webrtc-broker" {
		t.Fatalf("turn defaults = %+v", cfg.TURN)
	}
	for _, k := range []string{"turn.enabled", "turn.listen_udp", "turn.listen_tls", "turn.cert", "turn.key", "turn.relay_ip",
		"turn.relay_port_min", "turn.relay_port_max", "turn.public_host", "turn.realm", "turn.secret", "turn.ttl", "webrtc.relay_only"} {
		if _, ok := Defaults()[k]; !ok {
			t.Errorf("Defaults() lacks %s", k)
		}
	}
	bad := []struct {
		name   string
		adjust func(*Config)
		want   string
	}{
		{"turn without secret", func(c *Config) { c.TURN.Enabled, c.TURN.RelayIP = true, "198.18.0.1" }, "turn.secret"},
		{"turn without relay_ip", func(c *Config) { c.TURN.Enabled, c.TURN.Secret = true, "s" }, "turn.relay_ip"},
		{"ice server without urls", func(c *Config) { c.WebRTC.ICEServers = []rtcconfig.ICEServer{{Username: "u", Credential: "c"}} }, "ice_servers"},
	}
	for _, tt := range bad {
		var c Config
		tt.adjust(&c)
		if _, err := c.withDefaults(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want one naming %s", tt.name, err, tt.want)
		}
	}
}

func TestProcStatReadsThisProcess(t *testing.T) {
	st, ok := readProcStat()
	if !ok {
		t.Skip("no /proc/self/stat (not Linux)")
	}
	if st.rss == 0 {
		t.Fatalf("rss 0 from /proc/self/stat: %+v", st)
	}
	cores, rss := newCPUSampler().sample(time.Now())
	if cores < 0 || rss == 0 {
		t.Fatalf("sample: cores %v, rss %d", cores, rss)
	}
}

func TestWorldAndConflateConfig(t *testing.T) {
	good := []WorldConfig{{Pattern: "world.*", Cell: 16, Radius: 64}, {Pattern: "arena.**", Cell: 10, Radius: 30, Every: []int{1, 3, 9}}}
	r, err := newTopicRules(good, []string{"state.*"})
	if err != nil {
		t.Fatal(err)
	}
	if r.worlds[0].cfg.Every != [3]int{1, 2, 4} || r.worlds[1].cfg.Every != [3]int{1, 3, 9} {
		t.Fatalf("rates %v, %v", r.worlds[0].cfg.Every, r.worlds[1].cfg.Every)
	}
	tests := []struct {
		topic            string
		world            int16
		isCell, conflate bool
	}{
		{"world.lobby", 0, false, true},
		{"world.lobby.cell.1.-2", 0, true, true},
		{"world.lobby.cell.x.2", -1, false, false}, // not a cell's shape: an ordinary topic
		{"arena.a.b", 1, false, true},
		{"arena.a.cell.0.0", 1, true, true}, // a cell of world arena.a, not a world under arena.**
		{"chat.cell.1.2", -1, false, false}, // a cell's shape, of no world
		{"state.x", -1, false, true},
		{"chat", -1, false, false},
	}
	for _, tt := range tests {
		ru, isCell := r.lookup([]byte(tt.topic))
		if ru.world != tt.world || isCell != tt.isCell || ru.conflate != tt.conflate {
			t.Errorf("%s: world %d, cell %v, conflate %v; want %d, %v, %v", tt.topic, ru.world, isCell, ru.conflate, tt.world, tt.isCell, tt.conflate)
		}
	}
	seed := maphash.MakeSeed()
	key := func(from uint64, topic string) uint64 { return conflateKey(seed, from, topic) }
	if k := key(1, "a"); k == key(2, "a") || k == key(1, "b") || k != key(1, string([]byte("a"))) || k == 0 {
		t.Error("conflate keys do not tell (sender, topic) pairs apart")
	}
	if n := testing.AllocsPerRun(100, func() { r.lookup([]byte("world.lobby.cell.3.4")) }); n != 0 {
		t.Errorf("lookup of a cell topic allocates %v", n)
	}
	if r, err := newTopicRules(nil, nil); r != nil || err != nil {
		t.Errorf("no worlds, no conflate: rules %v, %v; want none", r, err)
	}
	for name, w := range map[string]WorldConfig{
		"bad pattern": {Pattern: "a b", Cell: 1, Radius: 1},
		"no cell":     {Pattern: "w.*", Radius: 1},
		"huge radius": {Pattern: "w.*", Cell: 1, Radius: 1000},
		"rate 0":      {Pattern: "w.*", Cell: 1, Radius: 1, Every: []int{1, 0, 1}},
	} {
		if _, err := newTopicRules([]WorldConfig{w}, nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := newTopicRules(nil, []string{""}); err == nil {
		t.Error("an empty conflate pattern accepted")
	}
}

package coordinator

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/webrtc-broker/webrtc-broker/core/rtcconfig"
	"github.com/webrtc-broker/webrtc-broker/core/turncred"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// TURNConfig is the turn section: TURN servers the coordinator does not run
// (coturn with use-auth-secret, say) whose REST credentials it mints per
// client. The same secret lets it mint for the communication servers'
// embedded TURN, whose URLs they send when they register.
type TURNConfig struct {
	URLs   []string      `koanf:"urls"`   // turn:/turns: URLs, credentials minted per client
	Secret string        `koanf:"secret"` // coturn's static-auth-secret; the servers' turn.secret
	TTL    time.Duration `koanf:"ttl"`    // lifetime of a minted credential, default 1h
}

func (t TURNConfig) validate() error {
	for _, u := range t.URLs {
		if !strings.HasPrefix(u, "turn:") && !strings.HasPrefix(u, "turns:") {
			return fmt.Errorf("turn.urls: %q: want a turn or turns URL", u)
		}
	}
	if len(t.URLs) > 0 && t.Secret == "" {
		return fmt.Errorf("turn.urls set: %w", errTURNNoSecret)
	}
	if t.TTL < 0 {
		return fmt.Errorf("turn.ttl %s: %w", t.TTL, errNegative)
	}
	return nil
}

// maxServerTURN bounds the servers whose embedded TURN one WELCOME lists:
// each TURN URL costs the client an allocation per connection, and any
// server's relay reaches every server, so the first few offered are enough.
const maxServerTURN = 3

// iceSource builds the ice_servers of a client's WELCOME: the configured
// ice_servers as they are, then turn.urls and the embedded TURN of the
// servers offered (in offer order, best first), all with one credential
// minted for this client.
type iceSource struct {
	static []*protocol.IceServer
	turn   TURNConfig
	now    func() time.Time
}

func newICESource(static []rtcconfig.ICEServer, turn TURNConfig) *iceSource {
	s := &iceSource{turn: turn, now: time.Now}
	for _, e := range static {
		s.static = append(s.static, &protocol.IceServer{Urls: e.URLs, Username: e.Username, Credential: e.Credential})
	}
	return s
}

// forClient returns the ICE servers for the client called name (see
// turncred.Name) that is offered the servers offered.
func (s *iceSource) forClient(name string, offered []uint64, servers map[uint64]*server) []*protocol.IceServer {
	out := append([]*protocol.IceServer(nil), s.static...)
	if s.turn.Secret == "" {
		return out
	}
	var user, pass string
	mint := func(urls []string) {
		if user == "" {
			user, pass = turncred.Mint(s.turn.Secret, name, s.now().Add(s.turn.TTL))
		}
		out = append(out, &protocol.IceServer{Urls: urls, Username: user, Credential: pass})
	}
	if len(s.turn.URLs) > 0 {
		mint(s.turn.URLs)
	}
	listed := 0
	for _, a := range offered {
		if sv, ok := servers[a]; ok && len(sv.turn) > 0 && listed < maxServerTURN {
			mint(sv.turn)
			listed++
		}
	}
	return out
}

// serverTURN reads the embedded TURN URLs a registering server lists in
// turncred.Header. A bad list is logged and ignored: the server still
// serves, its clients just get no TURN from it.
func (c *Coordinator) serverTURN(r *http.Request, log *slog.Logger) []string {
	v := r.Header.Get(turncred.Header)
	if v == "" {
		return nil
	}
	urls, err := turncred.ParseHeader(v)
	switch {
	case err != nil:
		log.Warn("server's TURN URLs ignored", "err", err)
		return nil
	case c.cfg.TURN.Secret == "":
		log.Warn("server offers its embedded TURN but turn.secret is not set here: its clients get no credentials for it; "+
			"set the same turn.secret on the coordinator and the servers", "turn_urls", urls)
		return nil
	}
	log.Info("server offers embedded TURN", "turn_urls", urls)
	return urls
}

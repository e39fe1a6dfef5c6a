package plugintest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/webrtc-broker/webrtc-broker/core/auth"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// Cases is a plugin's test file: the config section to start it with and the
// requests it must allow or deny. Every field is optional.
//
//	config:            # auth.config, passed to the plugin's Configure
//	  secret: "0123456789abcdef"
//	timeout: 2s        # auth.timeout for every call
//	cases:
//	  - name: client with a good token
//	    role: client               # client (default), server or hub
//	    url: /connect?token=v1.... # a coordinator request (host defaults to 127.0.0.1:9090)
//	    headers: {Authorization: "Bearer v1...."}
//	    expect: allow
//	    identity: alice            # checked when given
//	  - name: garbage AUTH body
//	    body: "not a token"        # an AUTH message body instead of a URL
//	    expect: deny
type Cases struct {
	Config  map[string]any `yaml:"config"`
	Timeout time.Duration  `yaml:"timeout"`
	Cases   []Case         `yaml:"cases"`
}

// Case is one request and the answer it must get. Exactly one of URL and
// Body is set.
type Case struct {
	Name       string            `yaml:"name"`
	Role       string            `yaml:"role"`
	URL        string            `yaml:"url"`
	Headers    map[string]string `yaml:"headers"`
	RemoteAddr string            `yaml:"remote_addr"`
	Body       *string           `yaml:"body"`
	Expect     string            `yaml:"expect"`   // allow or deny
	Identity   *string           `yaml:"identity"` // with allow: the identity it must carry
}

// defaultBase completes a URL given as a path, as a coordinator would see it.
const defaultBase = "http://127.0.0.1:9090"

// LoadCases reads a cases file, rejecting unknown keys and invalid cases so
// that a typo cannot silently skip a check.
func LoadCases(path string) (Cases, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Cases{}, fmt.Errorf("cases file: %w", err)
	}
	var c Cases
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) { // empty file: no cases
		return Cases{}, fmt.Errorf("cases file %s: %w", path, err)
	}
	for i := range c.Cases {
		if err := c.Cases[i].validate(); err != nil {
			return Cases{}, fmt.Errorf("cases file %s: case %d (%s): %w", path, i+1, c.Cases[i].Name, err)
		}
	}
	return c, nil
}

// LoadConfig reads a YAML file holding a plugin's config section (what goes
// under auth.config), for brokerctl's --config.
func LoadConfig(path string) (map[string]any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	cfg := map[string]any{}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	return cfg, nil
}

func (c Case) validate() error {
	if (c.URL == "") == (c.Body == nil) {
		return errors.New("give exactly one of url and body")
	}
	if _, err := parseRole(c.Role); err != nil {
		return err
	}
	switch c.Expect {
	case "allow":
	case "deny":
		if c.Identity != nil {
			return errors.New("identity is only checked on allow")
		}
	default:
		return fmt.Errorf("expect must be allow or deny, not %q", c.Expect)
	}
	return nil
}

// request builds the authentication request a case describes.
func (c Case) request() auth.Request {
	role, _ := parseRole(c.Role)
	if c.Body != nil {
		return auth.Request{Role: role, Body: []byte(*c.Body)}
	}
	u := c.URL
	if strings.HasPrefix(u, "/") {
		u = defaultBase + u
	}
	h := http.Header{}
	for k, v := range c.Headers {
		h.Set(k, v)
	}
	remote := c.RemoteAddr
	if remote == "" {
		remote = "127.0.0.1:40000"
	}
	return auth.Request{Role: role, HTTP: &auth.HTTPRequest{URL: u, Header: h, RemoteAddr: remote}}
}

func parseRole(s string) (protocol.Role, error) {
	switch strings.ToLower(s) {
	case "", "client":
		return protocol.Role_CLIENT, nil
	case "server", "communication_server":
		return protocol.Role_COMMUNICATION_SERVER, nil
	case "hub", "communication_server_hub":
		return protocol.Role_COMMUNICATION_SERVER_HUB, nil
	}
	return 0, fmt.Errorf("unknown role %q (want client, server or hub)", s)
}

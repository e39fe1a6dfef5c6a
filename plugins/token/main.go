// Command token is the HMAC-SHA256 token auth plugin. Config (auth.config):
//
//	secret: "at least 16 bytes"   # required; shared by every coordinator and server
//	ttl: 5m                       # lifetime of the tokens servers present (default 5m)
//
// A peer presents a token minted with the same secret (brokerctl token mint,
// or package tokens): on /connect and /discover as ?token=... or an
// "Authorization: Bearer ..." header, on a data channel as the AUTH body. The
// token's identity becomes the peer's identity; its role must be the role the
// peer connects as. Communication servers present tokens the plugin mints
// itself, with their own role and a short expiry.
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/webrtc-broker/webrtc-broker/plugins/sdk"
	"github.com/webrtc-broker/webrtc-broker/plugins/token/tokens"
)

type settings struct {
	secret []byte
	ttl    time.Duration
}

// tokenAuth reads settings written once by Configure; calls run concurrently.
type tokenAuth struct{ s atomic.Pointer[settings] }

func (p *tokenAuth) Configure(cfg map[string]any) error {
	secret, _ := cfg["secret"].(string)
	if len(secret) < tokens.MinSecretLen {
		return fmt.Errorf("auth.config.secret: %w", tokens.ErrShortSecret)
	}
	s := &settings{secret: []byte(secret), ttl: 5 * time.Minute}
	switch v := cfg["ttl"].(type) {
	case nil:
	case string:
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return fmt.Errorf("auth.config.ttl %q: want a positive duration such as 5m", v)
		}
		s.ttl = d
	case float64: // seconds, from a bare YAML number
		if v <= 0 {
			return fmt.Errorf("auth.config.ttl %v: want a positive duration such as 5m", v)
		}
		s.ttl = time.Duration(v * float64(time.Second))
	default:
		return fmt.Errorf("auth.config.ttl: want a duration such as 5m, got %T", v)
	}
	p.s.Store(s)
	return nil
}

func (p *tokenAuth) Authenticate(_ context.Context, req sdk.Request) (sdk.Result, error) {
	s := p.s.Load()
	if s == nil {
		return sdk.Result{}, errors.New("not configured")
	}
	tok := presented(req)
	if tok == "" {
		return sdk.Deny("missing token"), nil
	}
	c, err := tokens.Verify(s.secret, tok, time.Now())
	if err != nil {
		return sdk.Deny(err.Error()), nil // the sentinels' texts are safe to show
	}
	if c.Role != req.Role {
		return sdk.Deny("token is not valid for role " + tokens.RoleName(req.Role)), nil
	}
	return sdk.Allow([]byte(c.Identity)), nil
}

// presented finds the token: the AUTH body, else the URL's token query
// parameter, else an Authorization: Bearer header.
func presented(req sdk.Request) string {
	if req.HTTP == nil {
		return string(bytes.TrimSpace(req.Body))
	}
	if u, err := url.Parse(req.HTTP.URL); err == nil {
		if t := u.Query().Get("token"); t != "" {
			return t
		}
	}
	scheme, tok, ok := strings.Cut(req.HTTP.Header.Get("Authorization"), " ")
	if ok && strings.EqualFold(scheme, "Bearer") {
		return strings.TrimSpace(tok)
	}
	return ""
}

func (p *tokenAuth) Credentials(_ context.Context, role sdk.Role, target sdk.Target) (sdk.Credentials, error) {
	s := p.s.Load()
	if s == nil {
		return sdk.Credentials{}, errors.New("not configured")
	}
	if role != sdk.RoleServer && role != sdk.RoleHub {
		return sdk.Credentials{}, fmt.Errorf("only communication servers present credentials, not %s", tokens.RoleName(role))
	}
	name := tokens.RoleName(role)
	tok, err := tokens.Mint(s.secret, tokens.Claims{Identity: name, Role: role, Expiry: time.Now().Add(s.ttl)})
	if err != nil {
		return sdk.Credentials{}, err
	}
	if target == sdk.TargetServer {
		return sdk.Credentials{Body: []byte(tok)}, nil
	}
	return sdk.Credentials{Query: url.Values{"token": {tok}}}, nil
}

func main() { sdk.Serve(&tokenAuth{}) }

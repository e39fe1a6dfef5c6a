package plugintest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/webrtc-broker/webrtc-broker/core/auth"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// concurrentCalls is how many calls the concurrency check makes at once.
const concurrentCalls = 100

// suite holds what the checks share. The checks run in order: credentials
// fills creds, which allow and concurrency use; deny sets anonymousDenied,
// which malformed uses.
type suite struct {
	ctx     context.Context
	a       auth.Authenticator
	timeout time.Duration

	creds           map[protocol.Role]map[auth.Target]auth.Credentials
	anonymousDenied bool
}

type check struct {
	name string
	fn   func() (string, error)
}

func (s *suite) checks() []check {
	return []check{
		{"credentials", s.credentials},
		{"allow: servers' own credentials", s.allowOwnCredentials},
		{"deny: anonymous peers", s.denyAnonymous},
		{"malformed input", s.malformed},
		{fmt.Sprintf("%d concurrent calls", concurrentCalls), s.concurrent},
		{"time-out", s.timeOut},
	}
}

var serverRoles = []protocol.Role{protocol.Role_COMMUNICATION_SERVER, protocol.Role_COMMUNICATION_SERVER_HUB}

// credentials: a communication server of either role gets credentials for
// the coordinator and for other servers.
func (s *suite) credentials() (string, error) {
	s.creds = map[protocol.Role]map[auth.Target]auth.Credentials{}
	for _, role := range serverRoles {
		s.creds[role] = map[auth.Target]auth.Credentials{}
		for _, target := range []auth.Target{auth.TargetCoordinator, auth.TargetServer} {
			c, err := s.a.Credentials(s.ctx, role, target)
			if err != nil {
				return "", fmt.Errorf("%s to %s: %w", role, targetName(target), err)
			}
			s.creds[role][target] = c
		}
	}
	return "server and hub, to coordinator and to servers", nil
}

// serverRequests are what a server presenting its own credentials sends: the
// /discover request and the AUTH body on a mesh link.
func (s *suite) serverRequests(role protocol.Role) []auth.Request {
	c := s.creds[role][auth.TargetCoordinator]
	q := url.Values{"role": {role.String()}}
	for k, v := range c.Query {
		q[k] = append(q[k], v...)
	}
	h := http.Header{}
	for k, v := range c.Header {
		h[k] = v
	}
	return []auth.Request{
		{Role: role, HTTP: &auth.HTTPRequest{URL: defaultBase + "/discover?" + q.Encode(), Header: h, RemoteAddr: "127.0.0.1:40001"}},
		{Role: role, Body: orEmpty(s.creds[role][auth.TargetServer].Body)},
	}
}

// allowOwnCredentials: the plugin accepts the credentials it hands out, or a
// cluster using it could never form.
func (s *suite) allowOwnCredentials() (string, error) {
	if s.creds == nil {
		return "", errors.New("not run: credentials failed")
	}
	for _, role := range serverRoles {
		for _, req := range s.serverRequests(role) {
			res, err := s.a.Authenticate(s.ctx, req)
			if err != nil {
				return "", fmt.Errorf("%s: %w", describe(req), err)
			}
			if !res.Allow {
				return "", fmt.Errorf("%s: denied its own credentials: %q", describe(req), res.Reason)
			}
		}
	}
	return "coordinator request and AUTH body, server and hub", nil
}

// denyAnonymous: a client without credentials is denied with a reason. A
// plugin that admits everyone (allowall) is skipped, not failed.
func (s *suite) denyAnonymous() (string, error) {
	reqs := []auth.Request{
		{Role: protocol.Role_CLIENT, HTTP: &auth.HTTPRequest{URL: defaultBase + "/connect", Header: http.Header{}, RemoteAddr: "127.0.0.1:40002"}},
		{Role: protocol.Role_CLIENT, Body: []byte{}},
	}
	allowed := 0
	for _, req := range reqs {
		res, err := s.a.Authenticate(s.ctx, req)
		if err != nil {
			return "", fmt.Errorf("%s: the plugin failed instead of answering: %w", describe(req), err)
		}
		if res.Allow {
			allowed++
			continue
		}
		if err := checkDeny(res); err != nil {
			return "", fmt.Errorf("%s: %w", describe(req), err)
		}
	}
	switch allowed {
	case 0:
		s.anonymousDenied = true
		return "coordinator request and AUTH body", nil
	case len(reqs):
		return "", errSkip("the plugin admits anonymous clients")
	}
	return "", errors.New("an anonymous client is allowed on one path and denied on the other")
}

// malformed: garbage is answered, not failed on, and the plugin survives it;
// a plugin that denies anonymous clients denies garbage too.
func (s *suite) malformed() (string, error) {
	noise := make([]byte, 512)
	_, _ = rand.Read(noise)
	long := strings.Repeat("A", 1<<20)
	reqs := []auth.Request{
		{Role: protocol.Role_CLIENT, Body: noise},
		{Role: protocol.Role_CLIENT, Body: []byte(long)},
		{Role: protocol.Role_CLIENT, Body: []byte("\xff\xfe\x00invalid utf-8\x00")},
		{Role: protocol.Role_CLIENT, Body: []byte("v1..")},
		{Role: protocol.Role_CLIENT, HTTP: &auth.HTTPRequest{URL: "http://%zz/connect?token=%%%", Header: http.Header{}}},
		{Role: protocol.Role_CLIENT, HTTP: &auth.HTTPRequest{URL: "", Header: nil}},
		{Role: protocol.Role_CLIENT, HTTP: &auth.HTTPRequest{URL: defaultBase + "/connect?token=" + url.QueryEscape(long[:8000]),
			Header: http.Header{"Authorization": {"Bearer " + string(noise)}, "X-Long": {long[:64<<10]}}}},
		{Role: protocol.Role(99), Body: []byte("unknown role")},
	}
	for _, req := range reqs {
		res, err := s.a.Authenticate(s.ctx, req)
		if err != nil {
			return "", fmt.Errorf("%s: the plugin failed instead of answering: %w", describe(req), err)
		}
		if res.Allow && s.anonymousDenied {
			return "", fmt.Errorf("%s: allowed, though the plugin denies anonymous clients", describe(req))
		}
		if !res.Allow {
			if err := checkDeny(res); err != nil {
				return "", fmt.Errorf("%s: %w", describe(req), err)
			}
		}
	}
	if err := s.alive(); err != nil {
		return "", fmt.Errorf("after malformed input: %w", err)
	}
	return fmt.Sprintf("%d requests answered, plugin still up", len(reqs)), nil
}

// concurrent: many calls at once all get the same, right answer in time.
func (s *suite) concurrent() (string, error) {
	if s.creds == nil {
		return "", errors.New("not run: credentials failed")
	}
	req := s.serverRequests(protocol.Role_COMMUNICATION_SERVER)[0]
	want, err := s.a.Authenticate(s.ctx, req)
	if err != nil || !want.Allow {
		return "", fmt.Errorf("not run: the server's own request is not allowed (%v)", err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex // guards errs and worst
		errs  []error
		worst time.Duration
	)
	start := time.Now()
	for range concurrentCalls {
		wg.Go(func() {
			t0 := time.Now()
			res, err := s.a.Authenticate(s.ctx, req)
			d := time.Since(t0)
			mu.Lock()
			defer mu.Unlock()
			worst = max(worst, d)
			switch {
			case err != nil:
				errs = append(errs, err)
			case !res.Allow || !bytes.Equal(res.Identity, want.Identity):
				errs = append(errs, fmt.Errorf("answer differs: allow=%v identity=%q reason=%q", res.Allow, res.Identity, res.Reason))
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		return "", fmt.Errorf("%d of %d calls went wrong, first: %w", len(errs), concurrentCalls, errs[0])
	}
	return fmt.Sprintf("all in %s, slowest %s", time.Since(start).Round(time.Microsecond), worst.Round(time.Microsecond)), nil
}

// timeOut: a call whose deadline passes is denied (fail closed), never
// allowed, and the plugin answers normally afterwards.
func (s *suite) timeOut() (string, error) {
	ctx, cancel := context.WithTimeout(s.ctx, time.Nanosecond)
	defer cancel()
	<-ctx.Done()
	req := auth.Request{Role: protocol.Role_CLIENT, Body: []byte{}}
	if s.creds != nil {
		req = s.serverRequests(protocol.Role_COMMUNICATION_SERVER)[1]
	}
	res, err := s.a.Authenticate(ctx, req)
	if err == nil || res.Allow {
		return "", fmt.Errorf("a call past its deadline answered allow=%v err=%v; want a deny with an error", res.Allow, err)
	}
	if err := s.alive(); err != nil {
		return "", fmt.Errorf("after a timed-out call: %w", err)
	}
	return "expired deadline denied, plugin still answers", nil
}

// alive checks that the plugin still answers within the time-out.
func (s *suite) alive() error {
	ctx, cancel := context.WithTimeout(s.ctx, s.timeout)
	defer cancel()
	if _, err := s.a.Authenticate(ctx, auth.Request{Role: protocol.Role_CLIENT, Body: []byte("ping")}); err != nil {
		return fmt.Errorf("the plugin no longer answers: %w", err)
	}
	return nil
}

func (s *suite) userCase(c Case) (string, error) {
	res, err := s.a.Authenticate(s.ctx, c.request())
	if err != nil {
		return "", fmt.Errorf("the plugin failed instead of answering: %w", err)
	}
	switch {
	case c.Expect == "allow" && !res.Allow:
		return "", fmt.Errorf("want allow, got deny: %q", res.Reason)
	case c.Expect == "deny" && res.Allow:
		return "", fmt.Errorf("want deny, got allow with identity %q", res.Identity)
	case c.Expect == "deny":
		if err := checkDeny(res); err != nil {
			return "", err
		}
		return "denied: " + res.Reason, nil
	case c.Identity != nil && string(res.Identity) != *c.Identity:
		return "", fmt.Errorf("want identity %q, got %q", *c.Identity, res.Identity)
	}
	return fmt.Sprintf("allowed as %q", res.Identity), nil
}

// checkDeny: a deny says why (the peer gets the reason) and carries no
// identity.
func checkDeny(res auth.Result) error {
	if strings.TrimSpace(res.Reason) == "" {
		return errors.New("denied without a reason")
	}
	if len(res.Identity) > 0 {
		return fmt.Errorf("denied but carries identity %q", res.Identity)
	}
	return nil
}

func describe(req auth.Request) string {
	if req.HTTP != nil {
		u := req.HTTP.URL
		if len(u) > 60 {
			u = u[:60] + "..."
		}
		return fmt.Sprintf("%s request %q", req.Role, u)
	}
	b := req.Body
	if len(b) > 24 {
		b = b[:24]
	}
	return fmt.Sprintf("%s AUTH body %q (%d bytes)", req.Role, b, len(req.Body))
}

func targetName(t auth.Target) string {
	if t == auth.TargetServer {
		return "servers"
	}
	return "coordinator"
}

func orEmpty(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

package luahost

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/webrtc-broker/webrtc-broker/core/policy"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// caseFile is one *.cases.yaml file of the rule tester; scripts/README.md
// documents the format.
type caseFile struct {
	Scripts     []string            `yaml:"scripts"`      // rules to load; default every *.lua in the directory
	ServerAlias uint64              `yaml:"server_alias"` // what broker.server_alias() returns; default 1
	Peers       map[string]peerSpec `yaml:"peers"`
	Cases       []testCase          `yaml:"cases"`
}

type peerSpec struct {
	Alias    uint64 `yaml:"alias"`
	Identity string `yaml:"identity"`
	Role     string `yaml:"role"` // client (default), server, hub
}

// testCase runs on a fresh host (empty stores, clock at caseEpoch): either
// the one step written inline, or its steps in order.
type testCase struct {
	Name  string `yaml:"name"`
	step  `yaml:",inline"`
	Steps []step `yaml:"steps"`
}

// step is one action and what it must come to.
// Bounds on a case file's steps, far above any real case: a body larger
// than the largest max_message_size a server would be given, and more
// repetitions than a rate limit test needs.
const (
	maxCaseBodySize = 16 << 20
	maxCaseRepeat   = 1_000_000
)

type step struct {
	Publish    *string `yaml:"publish"`    // topic
	Subscribe  *string `yaml:"subscribe"`  // topic
	Connect    *string `yaml:"connect"`    // peer name
	Disconnect *string `yaml:"disconnect"` // peer name
	AdvanceMS  int64   `yaml:"advance_ms"` // move the virtual clock

	Peer       string `yaml:"peer"`       // a name from peers; default an anonymous client, alias 1
	Body       string `yaml:"body"`       // publish body
	BodySize   int    `yaml:"body_size"`  // or a body of this many "x"
	Unreliable bool   `yaml:"unreliable"` // sent on the unreliable channel
	Repeat     int    `yaml:"repeat"`     // run the step this many times, each must match

	Expect   string  `yaml:"expect"`    // publish: allow, drop, replace; subscribe: allow, deny
	Reason   *string `yaml:"reason"`    // the exact drop/deny reason
	WantBody *string `yaml:"want_body"` // the exact replaced body
}

func (s *step) isZero() bool {
	return s.Publish == nil && s.Subscribe == nil && s.Connect == nil && s.Disconnect == nil && s.AdvanceMS == 0 &&
		s.Expect == "" && s.Peer == "" && s.Body == ""
}

var anonymous = policy.Peer{Alias: 1, Role: protocol.Role_CLIENT}

func readCaseFile(path string) (*caseFile, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(src))
	dec.KnownFields(true)
	var cf caseFile
	if err := dec.Decode(&cf); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(cf.Cases) == 0 {
		return nil, fmt.Errorf("%s: no cases", path)
	}
	if cf.ServerAlias == 0 {
		cf.ServerAlias = 1
	}
	for name, p := range cf.Peers {
		if _, err := roleOf(p.Role); err != nil {
			return nil, fmt.Errorf("%s: peer %s: %w", path, name, err)
		}
	}
	for i := range cf.Cases {
		c := &cf.Cases[i]
		if c.Name == "" {
			c.Name = fmt.Sprintf("case %d", i+1)
		}
		switch {
		case len(c.Steps) > 0 && !c.step.isZero():
			return nil, fmt.Errorf("%s: %s: write either one inline step or steps, not both", path, c.Name)
		case len(c.Steps) == 0:
			c.Steps = []step{c.step}
		}
		for j := range c.Steps {
			if err := cf.validate(&c.Steps[j]); err != nil {
				return nil, fmt.Errorf("%s: %s: step %d: %w", path, c.Name, j+1, err)
			}
		}
	}
	return &cf, nil
}

func roleOf(s string) (protocol.Role, error) {
	switch s {
	case "", "client":
		return protocol.Role_CLIENT, nil
	case "server":
		return protocol.Role_COMMUNICATION_SERVER, nil
	case "hub":
		return protocol.Role_COMMUNICATION_SERVER_HUB, nil
	}
	return 0, fmt.Errorf("role %q: want client, server or hub", s)
}

func (cf *caseFile) peer(name string) (policy.Peer, error) {
	if name == "" {
		return anonymous, nil
	}
	p, ok := cf.Peers[name]
	if !ok {
		return policy.Peer{}, fmt.Errorf("unknown peer %q (declare it under peers)", name)
	}
	role, _ := roleOf(p.Role)
	return policy.Peer{Alias: p.Alias, Identity: []byte(p.Identity), Role: role}, nil
}

func (cf *caseFile) validate(s *step) error {
	actions := 0
	for _, set := range []bool{s.Publish != nil, s.Subscribe != nil, s.Connect != nil, s.Disconnect != nil, s.AdvanceMS != 0} {
		if set {
			actions++
		}
	}
	if actions != 1 {
		return errors.New("needs exactly one of publish, subscribe, connect, disconnect, advance_ms")
	}
	if s.Repeat < 0 {
		return errors.New("repeat must be positive")
	}
	// A case file is operator input like any other: a typo of a few zeros
	// must give an error, not a tester that allocates gigabytes or runs
	// for hours.
	if s.Repeat > maxCaseRepeat {
		return fmt.Errorf("repeat %d is over the limit of %d", s.Repeat, maxCaseRepeat)
	}
	if s.BodySize > maxCaseBodySize {
		return fmt.Errorf("body_size %d is over the limit of %d (no server accepts a message that large)", s.BodySize, maxCaseBodySize)
	}
	if s.Repeat == 0 {
		s.Repeat = 1
	}
	peer := s.Peer
	if s.Connect != nil {
		peer = *s.Connect
	} else if s.Disconnect != nil {
		peer = *s.Disconnect
	}
	if _, err := cf.peer(peer); err != nil {
		return err
	}
	if s.Body != "" && s.BodySize > 0 {
		return errors.New("body and body_size are exclusive")
	}
	if s.BodySize > 0 {
		s.Body = strings.Repeat("x", s.BodySize)
	}
	var want []string
	switch {
	case s.Publish != nil:
		want = []string{"allow", "drop", "replace"}
	case s.Subscribe != nil:
		want = []string{"allow", "deny"}
	default:
		if s.Expect != "" || s.Reason != nil || s.WantBody != nil {
			return errors.New("expect, reason and want_body only go with publish or subscribe")
		}
		return nil
	}
	for _, w := range want {
		if s.Expect == w {
			return nil
		}
	}
	return fmt.Errorf("expect %q: want one of %s", s.Expect, strings.Join(want, ", "))
}

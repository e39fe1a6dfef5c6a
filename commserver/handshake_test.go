package commserver

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/webrtc-broker/webrtc-broker/core/auth"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// fakeAuth answers every Authenticate with a fixed result, or blocks until
// the call's context ends when hang is set, and records what it was asked.
type fakeAuth struct {
	auth.AllowAll
	res  auth.Result
	err  error
	hang bool
	got  *auth.Request
}

func (f *fakeAuth) Authenticate(ctx context.Context, req auth.Request) (auth.Result, error) {
	f.got = &req
	if f.hang {
		<-ctx.Done()
		return auth.Result{}, ctx.Err()
	}
	return f.res, f.err
}

func authMsg(t *testing.T, role protocol.Role, body string) []byte {
	t.Helper()
	b, err := proto.Marshal(&protocol.AuthMessage{Type: protocol.MessageType_AUTH, Role: role, Body: []byte(body)})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAuthenticate(t *testing.T) {
	ping, _ := proto.Marshal(&protocol.PingMessage{Type: protocol.MessageType_PING, Time: 1})
	allow := auth.Result{Allow: true, Identity: []byte("alice")}
	tests := []struct {
		name      string
		fake      fakeAuth
		msg       []byte
		wantErr   error
		wantCreds credentials
		wantAsked bool
	}{
		{"an allowed client gets its identity", fakeAuth{res: allow}, authMsg(t, protocol.Role_CLIENT, "tok"),
			nil, credentials{role: protocol.Role_CLIENT, identity: []byte("alice")}, true},
		{"a server role the authenticator allows makes a server link", fakeAuth{res: auth.Result{Allow: true}},
			authMsg(t, protocol.Role_COMMUNICATION_SERVER, ""),
			nil, credentials{role: protocol.Role_COMMUNICATION_SERVER, identity: []byte{}}, true},
		{"a denied AUTH fails with the reason", fakeAuth{res: auth.Result{Reason: "bad token"}},
			authMsg(t, protocol.Role_CLIENT, "x"), errAuthDenied, credentials{}, true},
		{"an authenticator error fails closed", fakeAuth{err: errors.New("plugin down")},
			authMsg(t, protocol.Role_CLIENT, "x"), errAuthUnavailable, credentials{}, true},
		{"an authenticator that hangs times out and fails closed", fakeAuth{hang: true},
			authMsg(t, protocol.Role_CLIENT, "x"), errAuthUnavailable, credentials{}, true},
		{"PING first is refused without asking", fakeAuth{res: allow}, ping, errNotAuth, credentials{}, false},
		{"garbage first is refused without asking", fakeAuth{res: allow}, []byte{0xff, 0xff, 0xff}, errMalformed, credentials{}, false},
		{"an unknown role is refused without asking", fakeAuth{res: allow}, authMsg(t, protocol.Role_UNKNOWN_ROLE, ""),
			errAuthRole, credentials{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := tt.fake
			c, err := authenticate(context.Background(), &fake, 50*time.Millisecond, protocol.Role_UNKNOWN_ROLE, tt.msg)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if c.role != tt.wantCreds.role || string(c.identity) != string(tt.wantCreds.identity) {
				t.Fatalf("credentials = %+v, want %+v", c, tt.wantCreds)
			}
			if err == nil && c.identity == nil {
				t.Fatalf("identity is nil, want non-nil (empty for allow-all)")
			}
			if (fake.got != nil) != tt.wantAsked {
				t.Fatalf("authenticator asked = %v, want %v", fake.got != nil, tt.wantAsked)
			}
		})
	}
}

func TestAuthenticatorSeesRoleAndBody(t *testing.T) {
	fake := &fakeAuth{res: auth.Result{Allow: true}}
	if _, err := authenticate(context.Background(), fake, time.Second, protocol.Role_UNKNOWN_ROLE, authMsg(t, protocol.Role_CLIENT, "token-1")); err != nil {
		t.Fatal(err)
	}
	if fake.got.Role != protocol.Role_CLIENT || string(fake.got.Body) != "token-1" || fake.got.HTTP != nil {
		t.Fatalf("authenticator got %+v, want role CLIENT and body token-1", *fake.got)
	}
}

func TestAuthReasonHidesInternals(t *testing.T) {
	_, err := authenticate(context.Background(), &fakeAuth{err: errors.New("dial unix /run/secret.sock")}, time.Second, protocol.Role_UNKNOWN_ROLE,
		authMsg(t, protocol.Role_CLIENT, ""))
	if got := authReason(err); got != errAuthUnavailable.Error() {
		t.Fatalf("reason = %q, want %q", got, errAuthUnavailable.Error())
	}
	_, err = authenticate(context.Background(), &fakeAuth{res: auth.Result{Reason: "expired"}}, time.Second, protocol.Role_UNKNOWN_ROLE,
		authMsg(t, protocol.Role_CLIENT, ""))
	if got := authReason(err); got != "authentication denied: expired" {
		t.Fatalf("reason = %q, want the authenticator's reason", got)
	}
}

func TestAuthGate(t *testing.T) {
	ok := credentials{role: protocol.Role_CLIENT, identity: []byte{}}

	t.Run("a message without any AUTH is refused after the grace", func(t *testing.T) {
		g := newAuthGate()
		if _, err := g.wait(context.Background(), 10*time.Millisecond); !errors.Is(err, errBeforeAuth) {
			t.Fatalf("wait = %v, want errBeforeAuth", err)
		}
	})

	t.Run("a message waits for an AUTH that is being checked", func(t *testing.T) {
		// In a synctest bubble the grace passes on the fake clock, exactly
		// and at once: no real wait, and no race with a loaded machine.
		synctest.Test(t, func(t *testing.T) {
			const grace = 10 * time.Millisecond
			g := newAuthGate()
			g.begin()
			done := make(chan error, 1)
			go func() {
				c, err := g.wait(context.Background(), grace)
				if err == nil && c.role != protocol.Role_CLIENT {
					err = errors.New("wrong credentials")
				}
				done <- err
			}()
			// The check outlasts the grace: the waiter must not give up,
			// since the AUTH did arrive.
			time.Sleep(3 * grace) // the bubble's fake clock: passes at once
			synctest.Wait()
			select {
			case err := <-done:
				t.Fatalf("wait returned %v before the AUTH was settled", err)
			default:
			}
			if g.authorized() {
				t.Fatal("authorized before settle")
			}
			if !g.settle(ok, nil) {
				t.Fatal("first settle did not count")
			}
			synctest.Wait()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("wait = %v, want success", err)
				}
			default:
				t.Fatal("wait did not return after settle")
			}
			if !g.authorized() {
				t.Fatal("not authorized after a successful settle")
			}
		})
	})

	t.Run("a failed AUTH fails the waiter, and the first outcome sticks", func(t *testing.T) {
		g := newAuthGate()
		g.settle(credentials{}, errAuthDenied)
		if g.settle(ok, nil) {
			t.Fatal("a second settle counted")
		}
		if _, err := g.wait(context.Background(), time.Millisecond); !errors.Is(err, errAuthDenied) {
			t.Fatalf("wait = %v, want errAuthDenied", err)
		}
		if g.authorized() {
			t.Fatal("authorized after a failure")
		}
	})

	t.Run("closing the peer ends the wait", func(t *testing.T) {
		g := newAuthGate()
		g.begin()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := g.wait(ctx, time.Second); !errors.Is(err, context.Canceled) {
			t.Fatalf("wait = %v, want context.Canceled", err)
		}
	})
}

// The coordinator stamps the role it authenticated on CONNECT; an AUTH that
// claims the other side of the client/server line is refused before the
// authenticator is asked, so even allow-all cannot make a client a server.
func TestAuthRoleMustMatchCoordinator(t *testing.T) {
	tests := []struct {
		name      string
		signaled  protocol.Role
		claimed   protocol.Role
		wantError bool
	}{
		{"client claims server", protocol.Role_CLIENT, protocol.Role_COMMUNICATION_SERVER, true},
		{"client claims hub", protocol.Role_CLIENT, protocol.Role_COMMUNICATION_SERVER_HUB, true},
		{"server claims client", protocol.Role_COMMUNICATION_SERVER, protocol.Role_CLIENT, true},
		{"client as client", protocol.Role_CLIENT, protocol.Role_CLIENT, false},
		{"hub as server", protocol.Role_COMMUNICATION_SERVER_HUB, protocol.Role_COMMUNICATION_SERVER, false},
		{"unstamped (old coordinator) trusts the authenticator", protocol.Role_UNKNOWN_ROLE, protocol.Role_COMMUNICATION_SERVER, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &fakeAuth{res: auth.Result{Allow: true}}
			_, err := authenticate(context.Background(), fake, time.Second, tt.signaled, authMsg(t, tt.claimed, ""))
			if tt.wantError != errors.Is(err, errRoleMismatch) {
				t.Fatalf("err = %v, want role mismatch: %v", err, tt.wantError)
			}
			if tt.wantError && fake.got != nil {
				t.Fatal("authenticator was asked about a mismatched role")
			}
		})
	}
}

// TestAuthProofField: the cluster proof rides in AUTH as an extra field
// that decoders without it skip, the body the auth plugin reads untouched.
func TestAuthProofField(t *testing.T) {
	msg := authMsg(t, protocol.Role_COMMUNICATION_SERVER, "plugin-creds")
	if got := authProof(msg); got != nil {
		t.Fatalf("proof of an AUTH without one = %x, want nil", got)
	}
	proof := []byte("0123456789abcdef0123456789abcdef")
	with := protowire.AppendBytes(protowire.AppendTag(msg, 4, protowire.BytesType), proof) // field 4: cluster_proof
	if got := authProof(with); string(got) != string(proof) {
		t.Fatalf("proof = %x, want %x", got, proof)
	}
	var m protocol.AuthMessage
	if err := proto.Unmarshal(with, &m); err != nil || string(m.Body) != "plugin-creds" || m.Role != protocol.Role_COMMUNICATION_SERVER {
		t.Fatalf("AUTH with a proof decodes as %v, %v", &m, err)
	}
	if got := authProof(with[:len(with)-3]); got != nil {
		t.Fatalf("proof of a truncated AUTH = %x, want nil", got)
	}
}

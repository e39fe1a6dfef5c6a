package plugins

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/webrtc-broker/webrtc-broker/core/auth"
	"github.com/webrtc-broker/webrtc-broker/plugins/proto"
	"github.com/webrtc-broker/webrtc-broker/plugins/sdk"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// host is the auth.Authenticator backed by a plugin process. Calls go straight
// to the current process's gRPC client; the supervisor (supervisor.go) owns
// the process's life.
type host struct {
	name    string        // the binary's base name, in logs and metrics
	path    string        // resolved path of the binary
	sum     []byte        // pinned SHA-256, nil when not pinned
	config  []byte        // auth.config as JSON, sent once per process
	timeout time.Duration // bound of every call
	start   time.Duration // bound of every start: exec, handshake, Configure
	logger  *slog.Logger  // tagged with plugin=name
	m       *metrics

	// cur is the running plugin, nil while it is down or after Close. Only
	// the supervisor goroutine stores it; calls load it.
	cur atomic.Pointer[instance]
	// kick wakes the supervisor when a call finds the plugin unreachable, so
	// that an exit is noticed before the next poll. Capacity 1; never closed.
	kick chan struct{}

	// life is the host's: Close cancels it, which stops the supervisor and
	// ends a restart in progress. stop is its Done channel.
	life    context.Context
	endLife context.CancelFunc
	stop    <-chan struct{}
	done    chan struct{} // closed when the supervisor has killed the plugin

	downLog rateLimited // the fail-closed log line, at most once a second
}

var _ auth.Authenticator = (*host)(nil)

// denied is the answer of a call that failed closed. The reason goes to the
// peer, so it says nothing about the plugin.
var denied = auth.Result{Reason: "authentication unavailable"}

func (h *host) Authenticate(ctx context.Context, req auth.Request) (auth.Result, error) {
	const method = "Authenticate"
	inst := h.cur.Load()
	if inst == nil {
		return denied, h.failClosed(method, reasonDown, h.downErr())
	}
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	start := time.Now()
	resp, err := inst.rpc.Authenticate(ctx, requestToProto(req))
	h.m.latency.WithLabelValues(method).Observe(time.Since(start).Seconds())
	if err != nil {
		return denied, h.callFailed(ctx, method, err)
	}
	if !resp.GetAllow() {
		h.m.calls.WithLabelValues(method, "deny").Inc()
		return auth.Result{Reason: resp.GetReason()}, nil
	}
	h.m.calls.WithLabelValues(method, "allow").Inc()
	identity := resp.GetIdentity()
	if identity == nil {
		identity = []byte{} // as the built-in allow-all attaches
	}
	return auth.Result{Allow: true, Identity: identity, Room: resp.GetRoom()}, nil
}

func (h *host) Credentials(ctx context.Context, role protocol.Role, target auth.Target) (auth.Credentials, error) {
	const method = "Credentials"
	inst := h.cur.Load()
	if inst == nil {
		return auth.Credentials{}, h.failClosed(method, reasonDown, h.downErr())
	}
	var t proto.Target
	switch target {
	case auth.TargetCoordinator:
		t = proto.Target_TARGET_COORDINATOR
	case auth.TargetServer:
		t = proto.Target_TARGET_SERVER
	default:
		return auth.Credentials{}, fmt.Errorf("auth plugin %s: unknown credentials target %d", h.name, target)
	}
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	start := time.Now()
	resp, err := inst.rpc.Credentials(ctx, &proto.CredentialsRequest{Role: proto.Role(role), Target: t})
	h.m.latency.WithLabelValues(method).Observe(time.Since(start).Seconds())
	if err != nil {
		return auth.Credentials{}, h.callFailed(ctx, method, err)
	}
	h.m.calls.WithLabelValues(method, "allow").Inc()
	creds := auth.Credentials{Query: sdk.ValuesFromProto(resp.GetQuery()), Body: resp.GetBody()}
	if hdr := sdk.ValuesFromProto(resp.GetHeaders()); hdr != nil {
		creds.Header = http.Header(hdr)
	}
	return creds, nil
}

// Close kills the plugin process and waits until it is gone. Calls made
// after Close deny with ErrClosed.
func (h *host) Close() error {
	h.endLife()
	<-h.done
	return nil
}

func (h *host) downErr() error {
	select {
	case <-h.stop:
		return ErrClosed
	default:
		return ErrPluginDown
	}
}

// callFailed classifies a failed RPC, counts and logs it, and returns the
// error the caller gets (with a deny).
func (h *host) callFailed(ctx context.Context, method string, err error) error {
	h.m.calls.WithLabelValues(method, "error").Inc()
	code := status.Code(err)
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded) || code == codes.DeadlineExceeded:
		return h.failClosed(method, reasonTimeout, fmt.Errorf("%w (%s): %w", ErrTimeout, h.timeout, err))
	case errors.Is(ctx.Err(), context.Canceled) || code == codes.Canceled:
		// The caller gave up (its peer went away): not the plugin's fault.
		h.m.failClosed.WithLabelValues(reasonCanceled).Inc()
		return fmt.Errorf("auth plugin %s: %s: %w", h.name, method, err)
	case code == codes.Unavailable:
		h.poke()
		return h.failClosed(method, reasonDown, fmt.Errorf("%w: %w", ErrPluginDown, err))
	}
	return h.failClosed(method, reasonError, fmt.Errorf("auth plugin %s: %s: %w", h.name, method, err))
}

// failClosed counts a deny the plugin did not decide and logs it, at most
// once a second per host so that an outage does not flood the log.
func (h *host) failClosed(method, reason string, err error) error {
	h.m.failClosed.WithLabelValues(reason).Inc()
	if n, ok := h.downLog.allow(time.Now()); ok {
		h.logger.Warn("auth plugin call failed: denying (fail closed)",
			slog.String("method", method), slog.String("reason", reason),
			slog.Int64("suppressed", n), slog.Any("err", err))
	}
	return err
}

func (h *host) poke() {
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

// rateLimited lets one event through per second and counts the rest.
type rateLimited struct {
	mu         sync.Mutex // guards last and suppressed
	last       time.Time
	suppressed int64
}

func (r *rateLimited) allow(now time.Time) (suppressed int64, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now.Sub(r.last) < time.Second {
		r.suppressed++
		return 0, false
	}
	r.last, suppressed, r.suppressed = now, r.suppressed, 0
	return suppressed, true
}

func requestToProto(req auth.Request) *proto.AuthenticateRequest {
	out := &proto.AuthenticateRequest{Role: proto.Role(req.Role)}
	if req.HTTP != nil {
		out.Subject = &proto.AuthenticateRequest_Http{Http: &proto.HTTPRequest{
			Url:        sdk.ValidUTF8(req.HTTP.URL),
			Headers:    sdk.ValuesToProto(req.HTTP.Header),
			RemoteAddr: sdk.ValidUTF8(req.HTTP.RemoteAddr),
		}}
	} else {
		body := req.Body
		if body == nil {
			body = []byte{} // set the oneof: an empty AUTH body is still a body
		}
		out.Subject = &proto.AuthenticateRequest_Body{Body: body}
	}
	return out
}

package sdk

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/webrtc-broker/webrtc-broker/plugins/proto"
)

// GRPCPlugin is the go-plugin glue on both sides: in a plugin process it
// serves Impl; in the host GRPCClient hands back the raw proto.AuthClient,
// which package plugins wraps.
type GRPCPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	Impl Plugin // nil on the host side
}

var _ plugin.GRPCPlugin = &GRPCPlugin{}

// GRPCServer registers the Auth service backed by Impl.
func (p *GRPCPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	proto.RegisterAuthServer(s, &server{impl: p.Impl})
	return nil
}

// GRPCClient returns a proto.AuthClient on conn.
func (p *GRPCPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	return proto.NewAuthClient(conn), nil
}

// server adapts a Plugin to the generated service. It recovers a panicking
// Impl into an error so that one bad request cannot kill the plugin process
// and, with it, every other peer's authentication.
type server struct {
	proto.UnimplementedAuthServer
	impl Plugin
}

func (s *server) Configure(_ context.Context, req *proto.ConfigureRequest) (_ *proto.ConfigureResponse, err error) {
	defer recoverInto(&err, "Configure")
	cfg := map[string]any{}
	if len(req.GetConfigJson()) > 0 {
		if err := json.Unmarshal(req.GetConfigJson(), &cfg); err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "config is not a JSON object: %v", err)
		}
	}
	if err := s.impl.Configure(cfg); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	return &proto.ConfigureResponse{}, nil
}

func (s *server) Authenticate(ctx context.Context, req *proto.AuthenticateRequest) (_ *proto.AuthenticateResponse, err error) {
	defer recoverInto(&err, "Authenticate")
	res, err := s.impl.Authenticate(ctx, requestFromProto(req))
	if err != nil {
		return nil, status.Error(codeOf(ctx), err.Error())
	}
	return &proto.AuthenticateResponse{Allow: res.Allow, Identity: res.Identity, Reason: ValidUTF8(res.Reason), Room: ValidUTF8(res.Room)}, nil
}

func (s *server) Credentials(ctx context.Context, req *proto.CredentialsRequest) (_ *proto.CredentialsResponse, err error) {
	defer recoverInto(&err, "Credentials")
	target := TargetCoordinator
	switch req.GetTarget() {
	case proto.Target_TARGET_COORDINATOR:
	case proto.Target_TARGET_SERVER:
		target = TargetServer
	default:
		return nil, status.Errorf(codes.InvalidArgument, "unknown credentials target %v", req.GetTarget())
	}
	creds, err := s.impl.Credentials(ctx, Role(req.GetRole()), target)
	if err != nil {
		return nil, status.Error(codeOf(ctx), err.Error())
	}
	return &proto.CredentialsResponse{
		Query:   ValuesToProto(creds.Query),
		Headers: ValuesToProto(creds.Header),
		Body:    creds.Body,
	}, nil
}

// codeOf tells the host whether the plugin gave up because the deadline
// passed, so that the host can count it as a time-out.
func codeOf(ctx context.Context) codes.Code {
	if ctx.Err() != nil {
		return codes.DeadlineExceeded
	}
	return codes.Unknown
}

func recoverInto(err *error, method string) {
	if r := recover(); r != nil {
		*err = status.Errorf(codes.Internal, "plugin panicked in %s: %v", method, r)
	}
}

func requestFromProto(req *proto.AuthenticateRequest) Request {
	out := Request{Role: Role(req.GetRole())}
	switch s := req.GetSubject().(type) {
	case *proto.AuthenticateRequest_Http:
		out.HTTP = &HTTPRequest{
			URL:        s.Http.GetUrl(),
			Header:     http.Header(ValuesFromProto(s.Http.GetHeaders())),
			RemoteAddr: s.Http.GetRemoteAddr(),
		}
	case *proto.AuthenticateRequest_Body:
		out.Body = s.Body
	}
	if out.HTTP == nil && out.Body == nil {
		// Keep "exactly one is set" true for the plugin even when the host
		// sent neither: an empty AUTH body.
		out.Body = []byte{}
	}
	return out
}

// ValuesToProto encodes a header or query map for the wire. Exported for the
// host side in package plugins; plugin authors do not need it.
func ValuesToProto[M ~map[string][]string](m M) map[string]*proto.Values {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]*proto.Values, len(m))
	for k, v := range m {
		vals := make([]string, len(v))
		for i, s := range v {
			vals[i] = ValidUTF8(s)
		}
		out[ValidUTF8(k)] = &proto.Values{Values: vals}
	}
	return out
}

// ValidUTF8 replaces invalid UTF-8 with U+FFFD: protobuf strings must be
// valid, and a header from the network or a plugin's reason need not be.
func ValidUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// ValuesFromProto decodes a header or query map from the wire; see
// ValuesToProto.
func ValuesFromProto(m map[string]*proto.Values) url.Values {
	if len(m) == 0 {
		return nil
	}
	out := make(url.Values, len(m))
	for k, v := range m {
		out[k] = v.GetValues()
	}
	return out
}

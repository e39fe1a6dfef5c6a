// Command scripted is the host tests' plugin: each request's AUTH body (or
// the URL's "do" query parameter) says what it should do, so one binary plays
// every misbehaving plugin the host must survive.
//
//	deny   deny with reason "asked to deny"
//	hang   block until the host gives up (the deadline reaches the plugin)
//	panic  panic inside the handler
//	error  return an error
//	other  allow, with identity "pid:<pid>" so tests can find and kill it;
//	       a coordinator request's "room_hint" query becomes the Result's Room
//
// Config: mode: hang makes every Authenticate hang; say: TEXT is logged
// through sdk.Logger and written raw to stderr by Configure; reject: true
// makes Configure fail; hang_configure_if: PATH makes Configure say
// "configure hanging" on stderr and block for good if PATH exists (so a
// restart hangs while the first start did not).
package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"sync/atomic"

	"github.com/webrtc-broker/webrtc-broker/plugins/sdk"
)

// hangAll is written by Configure and read by concurrent calls.
type scripted struct{ hangAll atomic.Bool }

func (p *scripted) Configure(cfg map[string]any) error {
	if reject, _ := cfg["reject"].(bool); reject {
		return errors.New("told to reject this config")
	}
	p.hangAll.Store(cfg["mode"] == "hang")
	if path, _ := cfg["hang_configure_if"].(string); path != "" {
		if _, err := os.Stat(path); err == nil {
			fmt.Fprintln(os.Stderr, "configure hanging")
			select {}
		}
	}
	if say, _ := cfg["say"].(string); say != "" {
		sdk.Logger().Info("structured "+say, "pid", os.Getpid())
		fmt.Fprintln(os.Stderr, "raw "+say)
	}
	return nil
}

func (p *scripted) Authenticate(ctx context.Context, req sdk.Request) (sdk.Result, error) {
	do, room := string(req.Body), ""
	if req.HTTP != nil {
		if u, err := url.Parse(req.HTTP.URL); err == nil {
			do, room = u.Query().Get("do"), u.Query().Get("room_hint")
		}
	}
	if p.hangAll.Load() {
		do = "hang"
	}
	switch do {
	case "deny":
		return sdk.Deny("asked to deny"), nil
	case "hang":
		<-ctx.Done()
		return sdk.Result{}, ctx.Err()
	case "panic":
		panic("asked to panic")
	case "error":
		return sdk.Result{}, errors.New("asked to fail")
	}
	res := sdk.Allow([]byte("pid:" + strconv.Itoa(os.Getpid())))
	res.Room = room
	return res, nil
}

func (p *scripted) Credentials(_ context.Context, role sdk.Role, target sdk.Target) (sdk.Credentials, error) {
	if target == sdk.TargetServer {
		return sdk.Credentials{Body: []byte("server-credentials")}, nil
	}
	return sdk.Credentials{Query: url.Values{"do": {"allow"}}}, nil
}

func main() { sdk.Serve(&scripted{}) }

// Command allowall is the smallest auth plugin: it admits every peer with an
// empty identity and presents no credentials, as the built-in default does.
// It is the template to start a plugin from, and proves the plumbing.
package main

import (
	"context"

	"github.com/webrtc-broker/webrtc-broker/plugins/sdk"
)

type allowAll struct{}

func (allowAll) Configure(map[string]any) error { return nil }

func (allowAll) Authenticate(context.Context, sdk.Request) (sdk.Result, error) {
	return sdk.Allow([]byte{}), nil
}

func (allowAll) Credentials(context.Context, sdk.Role, sdk.Target) (sdk.Credentials, error) {
	return sdk.Credentials{}, nil
}

func main() { sdk.Serve(allowAll{}) }

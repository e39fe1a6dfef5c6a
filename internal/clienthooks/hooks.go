// Package clienthooks lets the module's own end-to-end tests do with the Go
// SDK what a well-behaved client never does (skip AUTH, write raw bytes on a
// data channel), without those calls being part of the SDK's public API:
// code outside this module cannot import an internal package.
//
// Package client sets the hooks at init. This package sits on the floor
// below client and cannot import it, so the hooks take the client's values
// as any; passing anything else panics with the type it got.
package clienthooks

var (
	skipAuth func(cfg any)
	sendRaw  func(c any, reliable bool, b []byte) error
)

// Register is called once by package client's init.
func Register(skip func(cfg any), raw func(c any, reliable bool, b []byte) error) {
	skipAuth, sendRaw = skip, raw
}

// SkipAuth makes a *client.Config dial without sending AUTH, so that a test
// can send data before it, which the server must refuse.
func SkipAuth(cfg any) {
	if skipAuth == nil {
		panic(notLinked)
	}
	skipAuth(cfg)
}

// SendRaw writes b unchanged on a *client.Client's reliable or unreliable
// channel.
func SendRaw(c any, reliable bool, b []byte) error {
	if sendRaw == nil {
		panic(notLinked)
	}
	return sendRaw(c, reliable, b)
}

// onFrame is set by package client's init (RegisterOnFrame).
var onFrame func(cfg any, f func(reliable bool, b []byte))

// RegisterOnFrame is called once by package client's init.
func RegisterOnFrame(hook func(cfg any, f func(reliable bool, b []byte))) { onFrame = hook }

// OnFrame makes a *client.Config's client call f with every data-channel
// message as read, before it is decoded (b is the read buffer: copy what
// you keep), so that a test asserts what the server put on the wire.
func OnFrame(cfg any, f func(reliable bool, b []byte)) {
	if onFrame == nil {
		panic(notLinked)
	}
	onFrame(cfg, f)
}

const notLinked = "clienthooks: package client is not linked in (import it)"

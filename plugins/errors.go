package plugins

import "errors"

var (
	// ErrPluginDown is returned, with a deny, while the plugin process is not
	// running (it exited and the host is restarting it).
	ErrPluginDown = errors.New("auth plugin is down: failing closed until it is restarted")
	// ErrTimeout is returned, with a deny, when the plugin did not answer
	// within auth.timeout.
	ErrTimeout = errors.New("auth plugin did not answer within auth.timeout")
	// ErrChecksumMismatch is returned by NewAuthenticator when the binary's
	// SHA-256 is not auth.sha256: the file changed, or the pin is stale.
	ErrChecksumMismatch = errors.New("auth plugin checksum does not match auth.sha256")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("auth plugin host is closed")

	errBadChecksum = errors.New("auth.sha256 must be 64 hex digits, as printed by sha256sum")
	errBadConfig   = errors.New("auth.config cannot be sent to the plugin as JSON")
	errDispense    = errors.New("auth plugin does not serve the broker's Auth service (built with plugins/sdk?)")
)

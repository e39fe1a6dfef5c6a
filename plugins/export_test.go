package plugins

// NewAuthenticatorWithStartTimeout is NewAuthenticator with the bound of a
// plugin's start (exec, handshake, Configure) set by the test.
var NewAuthenticatorWithStartTimeout = newAuthenticator

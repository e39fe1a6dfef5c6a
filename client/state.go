package client

import "fmt"

// State is where a client is in its life:
// connecting -> connected -> (reconnecting -> connected)* -> closed.
type State int32

const (
	// StateConnecting: Dial is making the first connection.
	StateConnecting State = iota
	// StateConnected: the link to a server is up and authenticated.
	StateConnected
	// StateReconnecting: the link was lost; the client is trying again.
	StateReconnecting
	// StateClosed: Close was called, or the client gave up (reconnection
	// disabled, or the credentials were refused). Final.
	StateClosed
)

func (s State) String() string {
	switch s {
	case StateConnecting:
		return "connecting"
	case StateConnected:
		return "connected"
	case StateReconnecting:
		return "reconnecting"
	case StateClosed:
		return "closed"
	}
	return fmt.Sprintf("State(%d)", int32(s))
}

// StateEvent is what Config.OnState hears: a change of state, or (State
// StateReconnecting again, Attempt > 0) a failed reconnection attempt.
type StateEvent struct {
	State State
	// Server and Alias are the server and the client's alias: the new ones
	// on StateConnected, the lost ones on the first StateReconnecting.
	Server, Alias uint64
	// Attempt numbers the failed attempts of one reconnection, from 1; 0 on
	// a change of state.
	Attempt int
	// Err says why: the lost link on the first StateReconnecting, the failed
	// attempt, or why the client closed (ErrClosed after Close).
	Err error
}

// setState records s and tells the application. Only Dial (before the
// supervisor starts) and the supervisor call it, so events are in order.
func (c *Client) setState(ev StateEvent) {
	c.state.Store(int32(ev.State))
	if ev.Err != nil && ev.State != StateClosed {
		c.log.Info("client link", "state", ev.State, "server", ev.Server, "attempt", ev.Attempt, "err", ev.Err)
	} else {
		c.log.Debug("client state", "state", ev.State, "server", ev.Server, "alias", ev.Alias, "err", ev.Err)
	}
	if c.cfg.OnState != nil {
		c.cfg.OnState(ev)
	}
}

// State is the client's current state.
func (c *Client) State() State { return State(c.state.Load()) }

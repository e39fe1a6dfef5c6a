package outbound

import (
	"errors"
	"fmt"
	"time"
)

var (
	// ErrSlowConsumer is returned by Push on a reliable queue when the
	// message would take the peer over its byte budget: the peer is not
	// reading fast enough, and the caller disconnects it (and logs it) rather
	// than let its backlog grow without bound. The error Push returns is a
	// *BudgetError, which says how far over; errors.Is matches it.
	ErrSlowConsumer = errors.New("outbound: peer is over its outbound byte budget (slow consumer)")
	// ErrClosed is returned by Push after Close.
	ErrClosed = errors.New("outbound: queue closed")
)

// BudgetError is the ErrSlowConsumer of a refused Push: what the queue held
// at that moment, so that the caller's log says why the peer was cut, not
// only that it was.
type BudgetError struct {
	// Queued and Messages are the bytes and messages waiting for the
	// writer (not yet handed to the sink); Size is the refused message's
	// size and Budget the queue's byte budget.
	Queued, Messages, Size, Budget int
	// WriterIdle is how long ago the writer last took the queue's
	// messages: about as long as the backlog took to build up.
	WriterIdle time.Duration
}

func (e *BudgetError) Error() string {
	return fmt.Sprintf("%v: %d bytes in %d messages queued, %d more refused, budget %d; writer idle for %v",
		ErrSlowConsumer, e.Queued, e.Messages, e.Size, e.Budget, e.WriterIdle)
}

// Is makes errors.Is(err, ErrSlowConsumer) hold.
func (e *BudgetError) Is(target error) bool { return target == ErrSlowConsumer }

// Package outbound owns per-peer, per-channel writer flow control.
package outbound

import (
	"context"
	"errors"
)

var (
	ErrSlowConsumer = errors.New("outbound: peer is over its byte budget (slow consumer)")
	ErrClosed       = errors.New("outbound: queue closed")
)

// Queue is one channel's outbound queue.
type Queue struct{}

func NewReliable(maxBytes int) *Queue      { return &Queue{} }
func NewUnreliable(maxMessages int) *Queue { return &Queue{} }

func (q *Queue) Push(msg []byte) error      { return nil }
func (q *Queue) Dropped() uint64            { return 0 }
func (q *Queue) Len() (messages, bytes int) { return 0, 0 }
func (q *Queue) Close()                     {}

// Sink is a detached pion data channel seen from the writer.
type Sink interface {
	Write(p []byte) (int, error)
	Buffered() uint64
}

func (q *Queue) Run(ctx context.Context, sink Sink, highWater uint64, low <-chan struct{}) error {
	<-ctx.Done()
	return nil
}

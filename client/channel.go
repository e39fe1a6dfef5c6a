package client

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/pion/datachannel"
	"github.com/pion/webrtc/v3"

	"github.com/webrtc-broker/webrtc-broker/internal/rtc"
)

const (
	// readBufferSize holds the largest message pion's SCTP carries (its
	// max-message-size is 65536 on both ends), so no read is ever short.
	readBufferSize = 65536
	// A writer waits while more than maxBuffered bytes are queued in SCTP, and
	// wakes when the queue drains below lowBuffered: a client publishing
	// faster than the link carries is slowed down instead of growing memory.
	maxBuffered = 1 << 20
	lowBuffered = 512 << 10
)

// dataChannel is one of the two data channels: the detached reader/writer, and
// the write side's reused buffer and flow control.
type dataChannel struct {
	kind  Channel
	label string
	dc    *webrtc.DataChannel
	rw    datachannel.ReadWriteCloser
	// low receives a token when SCTP's queue drains below lowBuffered. It has
	// capacity 1 and pion sends without blocking, so a wake-up is never lost.
	low chan struct{}

	mu  sync.Mutex // serializes writes; guards buf
	buf []byte     // reused encode buffer: a publish does not allocate
}

func newDataChannel(dc *webrtc.DataChannel, rw datachannel.ReadWriteCloser) *dataChannel {
	ch := &dataChannel{
		kind:  Unreliable,
		label: dc.Label(),
		dc:    dc,
		rw:    rw,
		low:   make(chan struct{}, 1),
		buf:   make([]byte, 0, 512),
	}
	if dc.Label() == rtc.LabelReliable {
		ch.kind = Reliable
	}
	dc.SetBufferedAmountLowThreshold(lowBuffered)
	dc.OnBufferedAmountLow(func() {
		select {
		case ch.low <- struct{}{}:
		default:
		}
	})
	return ch
}

// begin waits for room in SCTP's queue, then locks the channel and returns
// the empty encode buffer; commit writes what was appended to it and unlocks.
// Every begin is followed by exactly one commit.
func (ch *dataChannel) begin(done <-chan struct{}) ([]byte, error) {
	// pion calls OnBufferedAmountLow when the amount crosses lowBuffered
	// downwards, which it must do after we saw it above maxBuffered.
	for ch.dc.BufferedAmount() > maxBuffered {
		select {
		case <-ch.low:
		case <-done:
			return nil, ErrClosed
		}
	}
	ch.mu.Lock()
	return ch.buf[:0], nil
}

func (ch *dataChannel) commit(b []byte) error {
	_, err := ch.rw.Write(b)
	if cap(b) <= 4*readBufferSize { // keep the grown buffer, unless a huge message grew it
		ch.buf = b[:0]
	}
	ch.mu.Unlock()
	if err != nil {
		return fmt.Errorf("write %s: %w", ch.label, err)
	}
	return nil
}

// readLoop reads messages until the channel fails, handing each to deliver.
// It owns buf and topics. Its error is why the link is gone.
func (ch *dataChannel) readLoop(deliver func(*dataChannel, []byte, topicCache)) error {
	buf := make([]byte, readBufferSize)
	topics := topicCache{}
	for {
		n, err := ch.rw.Read(buf)
		if errors.Is(err, io.ErrShortBuffer) {
			continue // cannot happen with pion's 64 KiB limit; never fatal
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", ch.label, err)
		}
		deliver(ch, buf[:n], topics)
	}
}

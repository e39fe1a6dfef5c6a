package ceiling

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"

	"github.com/pion/webrtc/v3"
)

// The parent and the relay talk in JSON lines over the relay's stdin and
// stdout. The relay is the side that creates the peer connections and the
// channels, as a communication server does.
const (
	msgHello  = "hello"  // relay: started, API built (Goroutines: baseline)
	msgSetup  = "setup"  // parent: Receivers, Reliable
	msgOffer  = "offer"  // relay: Peer, SDP (gathering complete, no trickle)
	msgAnswer = "answer" // parent: Peer, SDP
	msgReady  = "ready"  // relay: every channel is open (Goroutines: now)
	msgStop   = "stop"   // parent: end the run
	msgStats  = "stats"  // relay: Dropped, then it exits
	msgError  = "error"  // relay: Error, then it exits
)

// signal is one line of the conversation. Peer 0 is the publisher, peers 1..N
// the receivers.
type signal struct {
	Type       string                     `json:"type"`
	Peer       int                        `json:"peer,omitempty"`
	SDP        *webrtc.SessionDescription `json:"sdp,omitempty"`
	Receivers  int                        `json:"receivers,omitempty"`
	Reliable   bool                       `json:"reliable,omitempty"`
	Goroutines int                        `json:"goroutines,omitempty"`
	Dropped    uint64                     `json:"dropped,omitempty"`
	Error      string                     `json:"error,omitempty"`
}

// wire reads and writes signals; writes may come from several goroutines.
type wire struct {
	dec *json.Decoder
	mu  sync.Mutex // guards enc
	enc *json.Encoder
}

func newWire(r io.Reader, w io.Writer) *wire {
	return &wire{dec: json.NewDecoder(r), enc: json.NewEncoder(w)}
}

func (w *wire) send(s signal) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.enc.Encode(s); err != nil {
		return fmt.Errorf("send %s: %w", s.Type, err)
	}
	return nil
}

func (w *wire) recv() (signal, error) {
	var s signal
	if err := w.dec.Decode(&s); err != nil {
		return s, fmt.Errorf("receive signal: %w", err)
	}
	return s, nil
}

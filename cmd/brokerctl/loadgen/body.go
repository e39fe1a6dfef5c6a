package loadgen

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// A load body starts with a fixed header the receiver reads back; the rest is
// padding up to the configured body size:
//
//	offset 0  1 byte   bodyMagic
//	offset 1  4 bytes  sender index (little endian)
//	offset 5  8 bytes  sequence number, per sender, from 1; the top
//	                   genBits bits are the generation (see seqGen)
//	offset 13 8 bytes  send time, ns since the run's shared start
//
// The send time is read off one monotonic clock shared by every simulated
// client of a process, so the difference on arrival is a latency even when the
// wall clock jumps.
const (
	bodyMagic = 0xB7
	// MinBodySize is the smallest body that holds the header.
	MinBodySize = 21
)

// ErrNotLoadBody is returned for a body the load generator did not write.
var ErrNotLoadBody = errors.New("not a load-generator body")

// Stamp is what a load body carries.
type Stamp struct {
	Sender uint32
	Seq    uint64
	SentNs int64
}

// NewBody builds a body of size bytes whose padding never changes; EncodeStamp
// then rewrites only the header before each send.
func NewBody(size int) ([]byte, error) {
	if size < MinBodySize {
		return nil, fmt.Errorf("body size %d: at least %d bytes carry the send time and sequence", size, MinBodySize)
	}
	b := make([]byte, size)
	for i := MinBodySize; i < size; i++ {
		b[i] = byte('a' + i%26)
	}
	b[0] = bodyMagic
	return b, nil
}

// EncodeStamp writes s into the header of b, which NewBody made.
func EncodeStamp(b []byte, s Stamp) {
	b[0] = bodyMagic
	binary.LittleEndian.PutUint32(b[1:5], s.Sender)
	binary.LittleEndian.PutUint64(b[5:13], s.Seq)
	binary.LittleEndian.PutUint64(b[13:21], uint64(s.SentNs))
}

// DecodeStamp reads the header of a received body.
func DecodeStamp(b []byte) (Stamp, error) {
	if len(b) < MinBodySize || b[0] != bodyMagic {
		return Stamp{}, ErrNotLoadBody
	}
	return Stamp{
		Sender: binary.LittleEndian.Uint32(b[1:5]),
		Seq:    binary.LittleEndian.Uint64(b[5:13]),
		SentNs: int64(binary.LittleEndian.Uint64(b[13:21])),
	}, nil
}

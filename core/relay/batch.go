package relay

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// BATCH framing (protocol.BatchMessage): the type, then each inner message
// as one occurrence of the repeated bytes field 2. The inner messages are
// already encoded (once, for every subscriber): a writer appends their bytes
// behind a tag and a length, never re-encoding them.

// Field numbers, per protocol/broker.proto.
const (
	// BatchMessage
	batchMessages = 2
	// AuthMessage
	authFeatures = 5
)

// BatchHeaderSize is the size of an empty batch: the type field alone, its
// tag and BATCH (17) one byte each.
const BatchHeaderSize = 2

// AppendBatchHeader starts a BatchMessage in dst; AppendBatchEntry adds
// each inner message after it.
func AppendBatchHeader(dst []byte) []byte {
	return appendType(dst, protocol.MessageType_BATCH)
}

// AppendBatchEntry appends one inner message of a batch to dst. An empty
// msg still counts as a message (a repeated bytes field keeps empty
// elements).
func AppendBatchEntry(dst, msg []byte) []byte {
	dst = protowire.AppendTag(dst, batchMessages, protowire.BytesType)
	return protowire.AppendBytes(dst, msg)
}

// SizeBatchEntry is how many bytes AppendBatchEntry adds for a message of n
// bytes.
func SizeBatchEntry(n int) int {
	return protowire.SizeTag(batchMessages) + protowire.SizeBytes(n)
}

// AppendBatch appends a BatchMessage of msgs to dst, byte-identical to
// proto.Marshal of protocol.BatchMessage.
func AppendBatch(dst []byte, msgs ...[]byte) []byte {
	dst = AppendBatchHeader(dst)
	for _, m := range msgs {
		dst = AppendBatchEntry(dst, m)
	}
	return dst
}

// BatchFramer frames a writer's batches as BatchMessages: it is the
// outbound.Framer the communication server passes to a peer's queues once
// the peer declared FEATURE_BATCH.
type BatchFramer struct{}

// HeaderSize is BatchHeaderSize.
func (BatchFramer) HeaderSize() int { return BatchHeaderSize }

// EntrySize is SizeBatchEntry.
func (BatchFramer) EntrySize(n int) int { return SizeBatchEntry(n) }

// AppendHeader is AppendBatchHeader.
func (BatchFramer) AppendHeader(dst []byte) []byte { return AppendBatchHeader(dst) }

// AppendEntry is AppendBatchEntry.
func (BatchFramer) AppendEntry(dst, msg []byte) []byte { return AppendBatchEntry(dst, msg) }

// Batch walks the inner messages of a BatchMessage without allocating; get
// one from ParseBatch and call Next until it returns false.
//
//	it, err := relay.ParseBatch(b)
//	for msg, ok := it.Next(); ok; msg, ok = it.Next() { ... }
type Batch struct {
	rest []byte
}

// ParseBatch checks that b is a well-formed BatchMessage that carries at
// least one message and returns an iterator over its inner messages, which
// are views into b. The inner messages themselves are not checked: each is
// an ordinary data-channel message that its receiver decodes as if it had
// come alone (a BATCH among them is the receiver's to refuse). Unknown fields and fields of an unexpected wire type are
// skipped, as proto.Unmarshal does.
func ParseBatch(b []byte) (Batch, error) {
	n := 0
	err := parseFields(b, protocol.MessageType_BATCH, func(num protowire.Number, wt protowire.Type, _ []byte) error {
		if num == batchMessages && wt == protowire.BytesType {
			n++
		}
		return nil
	})
	if err != nil {
		return Batch{}, err
	}
	if n == 0 {
		return Batch{}, fmt.Errorf("%w: BATCH carries no message", ErrMalformed)
	}
	return Batch{rest: b}, nil
}

// Next returns the next inner message, or false when there are none left.
func (it *Batch) Next() ([]byte, bool) {
	for len(it.rest) > 0 {
		// ParseBatch checked the framing, so n is never negative here.
		num, wt, n := protowire.ConsumeTag(it.rest)
		it.rest = it.rest[n:]
		n = protowire.ConsumeFieldValue(num, wt, it.rest)
		value := it.rest[:n]
		it.rest = it.rest[n:]
		if num == batchMessages && wt == protowire.BytesType {
			v, _ := protowire.ConsumeBytes(value)
			return v, true
		}
	}
	return nil, false
}

// AppendFeatures appends AuthMessage.features (a packed repeated enum, as
// proto3 encodes it) to an AUTH that AppendAuth wrote into dst: field 5
// comes after the others, so the result is byte-identical to proto.Marshal
// of the whole message. No features appends nothing, leaving the 2019 AUTH.
func AppendFeatures(dst []byte, features ...protocol.Feature) []byte {
	size := 0
	for _, f := range features {
		size += protowire.SizeVarint(enumVarint(f))
	}
	if size == 0 {
		return dst
	}
	dst = protowire.AppendTag(dst, authFeatures, protowire.BytesType)
	dst = protowire.AppendVarint(dst, uint64(size))
	for _, f := range features {
		dst = protowire.AppendVarint(dst, enumVarint(f))
	}
	return dst
}

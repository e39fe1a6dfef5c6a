package relay

import (
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// Stream positions on history topics (StreamPosition in TopicFWMessage.stream
// = 6 and TopicIdentityFWMessage.stream = 8): the field has the highest
// number of both messages, so appending it to what AppendTopicFW or
// AppendTopicIdentityFW produced keeps the encoding byte-identical to
// proto.Marshal.

// streamField is the stream field's number in a relayed message of type t.
func streamField(t protocol.MessageType) protowire.Number {
	if t == protocol.MessageType_TOPIC_IDENTITY_FW {
		return identityFWStream
	}
	return topicFWStream
}

// SizeStream is what AppendStream adds to a message.
func SizeStream(epoch, offset uint64) int {
	n := sizeVarint(1, epoch) + sizeVarint(2, offset)
	return protowire.SizeTag(topicFWStream) + protowire.SizeBytes(n)
}

// AppendStream appends the stream position field to dst, a TOPIC_FW or
// TOPIC_IDENTITY_FW of type t just encoded by this package.
func AppendStream(dst []byte, t protocol.MessageType, epoch, offset uint64) []byte {
	n := sizeVarint(1, epoch) + sizeVarint(2, offset)
	dst = grow(dst, SizeStream(epoch, offset))
	dst = protowire.AppendTag(dst, streamField(t), protowire.BytesType)
	dst = protowire.AppendVarint(dst, uint64(n))
	dst = appendVarint(dst, 1, epoch)
	return appendVarint(dst, 2, offset)
}

// ParseStream returns the stream position of a TOPIC_FW or
// TOPIC_IDENTITY_FW of type t (ok false when it has none), without
// allocating. b must have passed ParseTopicAs.
func ParseStream(t protocol.MessageType, b []byte) (epoch, offset uint64, ok bool) {
	if t != protocol.MessageType_TOPIC_FW && t != protocol.MessageType_TOPIC_IDENTITY_FW {
		return 0, 0, false
	}
	want := streamField(t)
	for len(b) > 0 {
		num, wt, n := protowire.ConsumeTag(b)
		if n < 0 {
			return 0, 0, false
		}
		b = b[n:]
		n = protowire.ConsumeFieldValue(num, wt, b)
		if n < 0 {
			return 0, 0, false
		}
		if num == want && wt == protowire.BytesType {
			v, _ := protowire.ConsumeBytes(b[:n])
			// Occurrences merge field by field, as proto.Unmarshal merges
			// a repeated embedded message: the last value of each wins.
			ok = true
			for len(v) > 0 {
				fnum, fwt, fn := protowire.ConsumeTag(v)
				if fn < 0 {
					return 0, 0, false
				}
				v = v[fn:]
				fn = protowire.ConsumeFieldValue(fnum, fwt, v)
				if fn < 0 {
					return 0, 0, false
				}
				if fwt == protowire.VarintType && (fnum == 1 || fnum == 2) {
					x, _ := protowire.ConsumeVarint(v[:fn])
					if fnum == 1 {
						epoch = x
					} else {
						offset = x
					}
				}
				v = v[fn:]
			}
		}
		b = b[n:]
	}
	return epoch, offset, ok
}

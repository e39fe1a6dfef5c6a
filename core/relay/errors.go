package relay

import "errors"

var (
	// ErrMalformed means the bytes are not a valid protobuf message of the
	// expected kind (truncated, a bad tag or varint, a topic that is not
	// UTF-8); the wrapped text says which field and what is wrong.
	ErrMalformed = errors.New("relay: malformed message")
	// ErrNotTopic means the message is well formed but its type is none of
	// TOPIC, TOPIC_FW, TOPIC_IDENTITY and TOPIC_IDENTITY_FW; the caller
	// dispatches it elsewhere (ReadType tells what it is).
	ErrNotTopic = errors.New("relay: not a topic message")
	// ErrWrongType means a control-message parser (ParsePing, ParseError)
	// was given a well-formed message of another type.
	ErrWrongType = errors.New("relay: unexpected message type")
)

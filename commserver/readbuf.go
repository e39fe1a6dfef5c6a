package commserver

// A read loop's buffer holds max_message_size+1 bytes (64 KiB by default)
// for the life of its channel, two per peer, and an idle client's messages
// use its first page or two. On the Go heap the untouched rest still
// counts: heap_inuse, and so the GC's goal and runtime.memory_limit's
// accounting, saw about 144 KiB per idle peer of which a few KiB were
// resident, and a span the GC frees and hands out again is zeroed, which
// makes all of it resident. Mapped outside the heap (readbuf_unix.go), only
// the pages a message has written are memory, to the kernel and the
// runtime alike.
//
// A buffer is owned by its read loop: pion's Read copies into it only
// during the call, and handle copies what it keeps, so the loop releases
// it once its last Read has returned.

// readBuffer returns a buffer of n bytes and the function that releases it.
func readBuffer(n int) ([]byte, func()) {
	if b, release, ok := mapBuffer(n); ok {
		return b, release
	}
	return make([]byte, n), func() {}
}

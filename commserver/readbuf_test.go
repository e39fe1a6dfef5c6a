package commserver

import (
	"runtime"
	"testing"
)

// A read buffer is n usable zero bytes, and on unix it is not on the Go
// heap: allocating one moves heap-in-use by less than its size.
func TestReadBufferOutsideTheHeap(t *testing.T) {
	const n = 64<<10 + 1
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	buf, release := readBuffer(n)
	runtime.ReadMemStats(&after)
	defer release()
	if len(buf) != n {
		t.Fatalf("len %d, want %d", len(buf), n)
	}
	for i, b := range buf {
		if b != 0 {
			t.Fatalf("byte %d is %d, want 0", i, b)
		}
	}
	buf[0], buf[n-1] = 1, 2 // writable to the last byte
	if _, rel, mapped := mapBuffer(1); mapped {
		rel()
		if grew := int64(after.HeapInuse) - int64(before.HeapInuse); grew >= n {
			t.Fatalf("heap in use grew by %d bytes for a %d-byte buffer", grew, n)
		}
	}
}

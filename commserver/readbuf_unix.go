//go:build unix

package commserver

import "syscall"

// mapBuffer maps n bytes of anonymous memory, zero until written, outside
// the Go heap; false if the kernel refuses (the caller falls back to the
// heap).
func mapBuffer(n int) ([]byte, func(), bool) {
	b, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return nil, nil, false
	}
	return b, func() { _ = syscall.Munmap(b) }, true
}

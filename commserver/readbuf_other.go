//go:build !unix

package commserver

// mapBuffer is the heap fallback where anonymous mappings are not at hand.
func mapBuffer(int) ([]byte, func(), bool) { return nil, nil, false }

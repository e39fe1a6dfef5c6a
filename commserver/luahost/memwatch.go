package luahost

import rtmetrics "runtime/metrics"

// allocatedBytes is the process's cumulative heap allocation: it only
// grows, whatever the collector frees.
func allocatedBytes() uint64 {
	s := []rtmetrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	rtmetrics.Read(s)
	return s[0].Value.Uint64()
}

// Package loadgen is the load engine behind `brokerctl load` and the bench
// suite: simulated clients on the Go client SDK, the scenarios they play
// (dense, sparse, mesh, policy, join-storm), the publish scheduler, and the
// measuring side: a body format that carries a send time and a per-sender
// sequence number, a Recorder for deliveries, loss, order and HDR latency
// histograms, CPU and RSS of other processes read from /proc, the machine's
// UDP counters, the report (text and JSON) and a hand-written SVG latency
// plot.
//
// It is built to cost little next to what it measures: receiving is a
// callback on the client's read loop (no goroutine per message, and the
// recorder allocates nothing), bodies are built once and only their header
// is rewritten, and a few scheduler goroutines publish for every client.
package loadgen

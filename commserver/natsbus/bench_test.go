package natsbus

import (
	"testing"
)

// BenchmarkBusPublish is the bus's share of relaying one client message in
// NATS mode: subject lookup, envelope into a pooled buffer, nats.go's
// Publish (a copy into its write buffer), to a topic this server subscribes
// to and to one it does not (whose subject is computed each time).
func BenchmarkBusPublish(b *testing.B) {
	ns := startNATS(b)
	tb := startBus(b, ns, nil)
	tb.SetTopics([]string{"game.room.1"})
	body := make([]byte, 100)
	for _, topic := range []string{"game.room.1", "not.subscribed.here"} {
		b.Run(topic, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := tb.Publish(true, false, 42, topic, nil, 0, body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

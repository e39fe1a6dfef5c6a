package subscriptions

import "slices"

// Lookups by string and by peer that only the tests make: the relay takes
// everything it needs from one Lookup.

// clients returns the clients subscribed to topic.
func (t *Table[P]) clients(topic string) []P {
	subs, _ := t.Lookup([]byte(topic))
	return subs.Clients
}

// servers returns the servers subscribed to topic.
func (t *Table[P]) servers(topic string) []P {
	subs, _ := t.Lookup([]byte(topic))
	return subs.Servers
}

// topicsOf returns p's current set, client or server, sorted.
func (t *Table[P]) topicsOf(p P) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if set, ok := t.clientSets[p]; ok {
		return slices.Clone(set)
	}
	return slices.Clone(t.serverSets[p])
}

// entries counts the topics the table holds over all shards.
func (t *Table[P]) entries() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for i := range t.shards {
		n += len(t.shards[i].byTopic)
	}
	return n
}

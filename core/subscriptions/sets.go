package subscriptions

// ClientSet returns client p's current topic set, sorted; nil when it has
// none. The slice is the table's and immutable (a change replaces it), so
// the caller may keep it but must not modify it. Presence compares a
// client's set before and after a change with it.
func (t *Table[P]) ClientSet(p P) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.clientSets[p]
}

// ServerSet returns what server p announced, sorted, as ClientSet does.
func (t *Table[P]) ServerSet(p P) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.serverSets[p]
}

package luahost

// Lock order (locksordering.txt style: a lock may be taken while holding
// the ones listed before it, never the reverse):
//
//	Host.reloadMu -> store.bmu, store.kmu (a script's top level runs on load)
//
// Host.reloadMu serialises reload and guards Host.stores; calls never take
// it: they load Host.snap (an atomic) once and finish on that snapshot.
//
// Leaves, each taken with no other of these held: store.bmu (token
// buckets) and store.kmu (key/value entries), taken by the Go functions a
// script calls and released before they return to Lua; breaker.mu;
// failureLog.mu; virtualClock.mu (the rule tester).

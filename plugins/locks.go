package plugins

// Locks (locksordering.txt style). The host holds no lock across a plugin
// call or a process start: calls load host.cur (an atomic) and the
// supervisor goroutine alone starts, restarts and kills the process. The
// remaining locks are leaves, taken with nothing else held:
//
//	rateLimited.mu  the fail-closed log line's limiter (host.downLog)
//	lineLogger.mu   a plugin's stderr, split into log lines

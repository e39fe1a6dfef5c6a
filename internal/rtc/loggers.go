package rtc

import (
	"sync"

	"github.com/pion/logging"
)

// loggerFactory is the pion logger factory NewAPI gives its setting engine
// (a variable so that a test can read what pion logs).
var loggerFactory = func() logging.LoggerFactory { return newSharedLoggers() }

// sharedLoggers hands out one pion logger per scope, shared by every peer
// connection of the process. pion's default factory builds a new set for
// each peer connection, which costs memory per idle peer and buys nothing:
// the loggers carry no per-peer state.
type sharedLoggers struct {
	base    *logging.DefaultLoggerFactory
	mu      sync.Mutex // guards loggers
	loggers map[string]logging.LeveledLogger
}

func newSharedLoggers() *sharedLoggers {
	return &sharedLoggers{base: logging.NewDefaultLoggerFactory(), loggers: map[string]logging.LeveledLogger{}}
}

func (f *sharedLoggers) NewLogger(scope string) logging.LeveledLogger {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, ok := f.loggers[scope]
	if !ok {
		l = f.base.NewLogger(scope)
		f.loggers[scope] = l
	}
	return l
}

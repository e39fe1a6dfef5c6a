package cli

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// OnHangup calls reload for every SIGHUP that arrives until ctx is done or
// stop is called, one call at a time from one goroutine; stop also waits
// for that goroutine. From OnHangup's return until stop, SIGHUP no longer
// ends the process (its default action): a binary calls it before it says
// it is listening, so that whoever waits for that line may send SIGHUP.
func OnHangup(ctx context.Context, reload func()) (stop func()) {
	sigs := make(chan os.Signal, 1) // a burst of signals is one reload
	signal.Notify(sigs, syscall.SIGHUP)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case <-sigs:
				reload()
			}
		}
	}()
	return func() {
		cancel()
		<-done
		signal.Stop(sigs)
	}
}

package routines

import "testing"

func TestStopAndWaitWaitsForEveryGoroutineAndRefusesNewOnes(t *testing.T) {
	var g Group
	release := make(chan struct{})
	finished := make(chan struct{}, 2)
	for range 2 {
		if !g.Go(func() { <-release; finished <- struct{}{} }) {
			t.Fatal("Go refused before StopAndWait")
		}
	}
	if !g.Enter() {
		t.Fatal("Enter refused before StopAndWait")
	}
	stopped := make(chan struct{})
	go func() { g.StopAndWait(); close(stopped) }()

	close(release)
	<-finished
	<-finished
	select {
	case <-stopped:
		t.Fatal("StopAndWait returned while an Enter was not yet left")
	default:
	}
	g.Leave()
	<-stopped

	if g.Go(func() { t.Error("a goroutine started after StopAndWait") }) {
		t.Fatal("Go accepted after StopAndWait")
	}
	if g.Enter() {
		t.Fatal("Enter accepted after StopAndWait")
	}
}

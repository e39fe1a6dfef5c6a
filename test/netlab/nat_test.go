package netlab

import "testing"

// TestLabSiteRemovedAfterFailure: a test that fails with a NAT site set up
// (router, site host, firewall rules, a process in the site) leaves no
// namespace behind: the router's rules and the site's links go with them.
func TestLabSiteRemovedAfterFailure(t *testing.T) {
	ft := &failingT{TB: t}
	var id string
	done := make(chan struct{})
	go func() {
		defer close(done)
		lab := New(ft)
		id = lab.id
		site := lab.Site("rtr")
		h := site.Host("home")
		site.BlockUDP()
		h.Start(ft, "sleep", "60")
		ft.Fatal("the test fails here")
	}()
	<-done
	if !ft.failed {
		t.Fatal("the fake test did not fail")
	}
	if got := labNamespaces(t, id); len(got) != 3 {
		t.Fatalf("before cleanup: namespaces %v, want the bridge, the router and the site host", got)
	}
	ft.runCleanups()
	if got := labNamespaces(t, id); len(got) != 0 {
		t.Fatalf("after cleanup: namespaces left: %v", got)
	}
}

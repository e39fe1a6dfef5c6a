// Package browser runs the browser SDK (client/js) in real headless
// Chromium against an in-process cluster (test/cluster), driven through the
// DevTools protocol by chromedp. Its tests use the coordinator's /demo page,
// which keeps its state on window.demo for them. A missing Chromium fails
// the tests: .ci/run installs it.
package browser

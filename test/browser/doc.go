// Package browser runs the browser SDK (client/js) in real headless
// Chromium against an in-process cluster (test/cluster), driven through the
// DevTools protocol by chromedp. Its tests use the coordinator's /demo page,
// which keeps its state on window.demo for them. A missing Chromium fails
// the tests: .ci/run installs it.
//
// Each test keeps the debug log of its coordinator, servers and Go clients
// and its pages' console in memory, and prints it when it fails
// (logs_test.go), so a failure seen once in CI says what every side did.
package browser

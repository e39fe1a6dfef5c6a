package main

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
)

func TestParsePIDs(t *testing.T) {
	tests := []struct {
		in    string
		pids  []int
		names []string
		bad   bool
	}{
		{"", nil, nil, false},
		{"123", []int{123}, []string{""}, false},
		{"server1=123, server2=456", []int{123, 456}, []string{"server1", "server2"}, false},
		{"abc", nil, nil, true},
		{"s=0", nil, nil, true},
		{"s=-4", nil, nil, true},
	}
	for _, tc := range tests {
		pids, names, err := parsePIDs(tc.in)
		if (err != nil) != tc.bad || !slices.Equal(pids, tc.pids) || !slices.Equal(names, tc.names) {
			t.Errorf("parsePIDs(%q) = %v, %v, %v; want %v, %v, error %v", tc.in, pids, names, err, tc.pids, tc.names, tc.bad)
		}
	}
}

// Bad flags are usage errors (exit 2) and say what is wrong, before any
// client dials.
func TestLoadRejectsBadFlags(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--scenario", "nope"}, `scenario "nope"`},
		{[]string{"--pids", "x"}, "--pids"},
		{[]string{"--size", "3"}, "body size 3"},
		{[]string{"--rate", "0"}, "rate 0"},
		{[]string{"--header", "novalue"}, "Name: value"},
		{[]string{"extra"}, "unexpected argument"},
		{[]string{"--scenario", "world", "--world-steps", "100,x"}, "--world-steps"},
		{[]string{"--scenario", "world", "--world-steps", "250,100"}, "increasing"},
	}
	for _, tc := range tests {
		var stdout, stderr bytes.Buffer
		code := runLoad(context.Background(), tc.args, &stdout, &stderr)
		if code == 0 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("load %v: exit %d, stderr %q; want a failure mentioning %q", tc.args, code, stderr.String(), tc.want)
		}
	}
}

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWorldSectionShowsTheRunOrNothing(t *testing.T) {
	dir := t.TempDir()
	if s := worldSection(dir); s != "" {
		t.Fatalf("no world run, got %q", s)
	}
	run := "world: 100 clients (100 connected)\ninterest sent/s\noff 1000\non 1000\n"
	if err := os.WriteFile(filepath.Join(dir, "world.txt"), []byte(run), 0o644); err != nil {
		t.Fatal(err)
	}
	s := worldSection(dir)
	if !strings.Contains(s, "## World") || !strings.Contains(s, "off 1000\non 1000") {
		t.Fatalf("section lacks the run:\n%s", s)
	}
}

func TestWorldStepsSectionShowsTheRunOrNothing(t *testing.T) {
	dir := t.TempDir()
	if s := worldStepsSection(dir); s != "" {
		t.Fatalf("no step-up, got %q", s)
	}
	run := "world step-up, interest on\n 100 yes\nheld: 100 clients\n"
	if err := os.WriteFile(filepath.Join(dir, "world-steps.txt"), []byte(run), 0o644); err != nil {
		t.Fatal(err)
	}
	s := worldStepsSection(dir)
	if !strings.Contains(s, "## World: how many clients") || !strings.Contains(s, "held: 100 clients") || strings.Contains(s, "%!") {
		t.Fatalf("section lacks the run:\n%s", s)
	}
}

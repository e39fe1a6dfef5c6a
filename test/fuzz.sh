#!/usr/bin/env bash
# Runs every fuzz target of the module for FUZZTIME each (default 30s; new
# inputs are minimised for at most FUZZMINIMIZETIME, default 10s):
# `make fuzz` for a real session, FUZZTIME=3s in CI so that every target
# builds and a regression in its corpus (testdata/fuzz) fails the run.
# New inputs that fail are written to the target's testdata/fuzz/ by go test.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-30s}
n=0
while IFS=: read -r file name; do
  pkg=./$(dirname "$file")
  echo "== $pkg $name ($fuzztime)"
  go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" -fuzzminimizetime "${FUZZMINIMIZETIME:-10s}" "$pkg"
  n=$((n + 1))
done < <(grep -r -o -E --include='*_test.go' --exclude-dir=.git '^func Fuzz[A-Za-z0-9_]+' . | sed 's#^\./##; s/:func /:/' | sort)
echo "fuzz: $n targets, $fuzztime each"
[ "$n" -gt 0 ]

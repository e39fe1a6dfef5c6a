#!/usr/bin/env bash
# make soak: issue 12's soak. Starts a coordinator and one communication
# server on loopback (the bench's start_cluster, bench/lib.sh), drives them
# with `brokerctl load` on the reliable channel for SOAK_DURATION at 70 % of
# the largest sustained dense rate with clients leaving and joining every
# second, samples the server every SOAK_SAMPLE (RSS, goroutines, open files,
# loss) and writes bench/results/soak.md and bench/results/soak.svg.
# Not part of CI; everything it starts is stopped on exit.
#
#   bench/soak.sh                    30 minutes
#   SOAK_DURATION=10m bench/soak.sh  a shorter run
#
# The default rate: the dense step-up sustained 49,000 deliveries/s
# (bench/results/RESULTS.md); 70 % of it is 34,300/s, i.e. 50 clients at
# 14 msg/s, each message to the 49 others.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=$ROOT/bin
OUT=$ROOT/bench/results
RAW=$OUT/soak-raw
LOGS=$RAW/logs
DURATION=${SOAK_DURATION:-30m}
WARMUP=${SOAK_WARMUP:-1m}
SAMPLE=${SOAK_SAMPLE:-1m}
CLIENTS=${SOAK_CLIENTS:-50}
RATE=${SOAK_RATE:-14}
SIZE=${SOAK_SIZE:-100}
CHURN=${SOAK_CHURN:-2}
# How long a leaving client stays for what it is owed, and the end's drain:
# longer than the default 2s, since a shared machine's latency tail is.
DRAIN=${SOAK_DRAIN:-5s}
LOG_TAG=soak
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

log "building"
make -s build
go build -o "$BIN/bench/" ./bench/report
rm -rf "$RAW"
mkdir -p "$LOGS"
{
  echo "date:        $(date -u +%FT%TZ)"
  echo "commit:      $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (with uncommitted changes)')"
  echo "machine:     $(nproc) cores, $(uname -sr), $(go version | cut -d' ' -f3-)"
  echo "load before: $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min)"
  echo "run:         dense $CLIENTS clients x $RATE msg/s, $SIZE-byte bodies, reliable, churn $CHURN/s (drain $DRAIN), $DURATION after $WARMUP warm-up, a sample every $SAMPLE"
} >"$RAW/meta.txt"

start_cluster soak 1
# The load average while the run goes on, once a minute, for the report.
(while sleep 60; do echo "$(date +%T) $(cut -d' ' -f1-3 /proc/loadavg)"; done >"$RAW/loadavg.txt") &
STARTED+=($!)
log "load: $DURATION"
"$BIN/brokerctl" load --coordinator "$COORD_URL" --pids "$SERVER_PIDS" --metrics "http://${SERVER_HTTP[0]}/metrics" \
  --scenario dense --clients "$CLIENTS" --rate "$RATE" --size "$SIZE" --reliable --churn "$CHURN/s" \
  --duration "$DURATION" --warmup "$WARMUP" --sample-every "$SAMPLE" --drain "$DRAIN" --json --quiet \
  >"$RAW/soak.json" 2>"$LOGS/soak.load.log"
echo "load after:  $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min)" >>"$RAW/meta.txt"
echo "load during: $(awk '{print $2}' "$RAW/loadavg.txt" | sort -n | sed -n '1p;$p' | paste -sd- -) (1-min average, lowest-highest)" >>"$RAW/meta.txt"
stop_cluster
"$BIN/bench/report" -soak "$RAW/soak.json" -out "$OUT"
log "wrote $OUT/soak.md and $OUT/soak.svg"

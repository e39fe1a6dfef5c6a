#!/usr/bin/env bash
# The slow-consumer measurement of issue 12: one server on loopback with a
# small reliable budget (SLOW_BUDGET bytes), dense reliable load, and
# SLOW_CLIENTS clients that stop reading SLOW_AFTER into the window until
# the server cuts them. Prints brokerctl load's summary (everyone else's
# latency before, while and after) and keeps it with the JSON in
# bench/results/slow-raw/. Not part of CI.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=$ROOT/bin
RAW=$ROOT/bench/results/slow-raw
LOGS=$RAW/logs
BUDGET=${SLOW_BUDGET:-262144}
ARGS=(--scenario dense --clients "${SLOW_TOTAL:-20}" --rate "${SLOW_RATE:-20}" --size "${SLOW_SIZE:-1000}" --reliable
  --slow "${SLOW_CLIENTS:-2}" --slow-after "${SLOW_AFTER:-15s}" --duration "${SLOW_DURATION:-60s}" --warmup 5s)
LOG_TAG=slow
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

make -s build
rm -rf "$RAW"
mkdir -p "$LOGS"
start_cluster slow 1 --set outbound.reliable_bytes="$BUDGET"
log "load: ${ARGS[*]} (outbound.reliable_bytes=$BUDGET)"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)" >"$RAW/summary.txt"
echo "command: brokerctl load ${ARGS[*]}  (server: outbound.reliable_bytes=$BUDGET)" >>"$RAW/summary.txt"
"$BIN/brokerctl" load --coordinator "$COORD_URL" --pids "$SERVER_PIDS" --json --quiet "${ARGS[@]}" \
  >"$RAW/slow.json" 2>"$LOGS/slow.load.log"
echo "load after:  $(cut -d' ' -f1-3 /proc/loadavg)" >>"$RAW/summary.txt"
grep -c "closed: slow consumer" "$LOGS/slow-server1.log" | sed 's/^/server warnings "closed: slow consumer": /' >>"$RAW/summary.txt" || true
curl -fs "http://${SERVER_HTTP[0]}/metrics" | grep '^commserver_dropped_messages_total' >>"$RAW/summary.txt" || true
stop_cluster
python3 - "$RAW/slow.json" >>"$RAW/summary.txt" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
s = r["slow"]
print(f"slow: {s['clients']} stopped at {s['stopped_at_s']:.1f}s, {s['cut']} cut" + (f" (last at {s['cut_at_s']:.1f}s)" if s.get("cut_at_s") is not None else ""))
for k in ("before", "while", "after"):
    l = s[k]
    print(f"  others {k:6s} {l['count']:7d} deliveries  p50 {l['p50_us']/1000:.2f} ms  p99 {l['p99_us']/1000:.2f} ms  p99.9 {l['p999_us']/1000:.2f} ms  max {l['max_us']/1000:.2f} ms")
print(f"loss (everyone owed): {r['loss_pct']:.4f} %, {r['delivered']} of {r['expected']}; {r['out_of_order']} out of order; disconnected {r['disconnected']}")
PY
cat "$RAW/summary.txt"

#!/usr/bin/env bash
# The server-to-server transports side by side (issue 13): one short load
# run on three communication servers over the WebRTC mesh, then the same on
# three servers relaying through NATS (a nats-server of its own, bench/natsd,
# so its CPU is measured apart). Writes bench/results/transports.md; raw JSON
# and logs go to bench/results/transports-raw/. Loopback only.
#
#   bench/transports.sh                  8 s windows
#   WINDOW=20s CLIENTS=60 bench/transports.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=$ROOT/bin
OUT=$ROOT/bench/results
RAW=$OUT/transports-raw
LOGS=$RAW/logs
WINDOW=${WINDOW:-8s}
CLIENTS=${CLIENTS:-48}
RATE=${RATE:-10}
LOG_TAG=transports
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

make -s build
go build -o "$BIN/bench/" ./bench/natsd
rm -rf "$RAW"
mkdir -p "$LOGS"
{
  echo "date:        $(date -u +%FT%TZ)"
  echo "commit:      $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (with uncommitted changes)')"
  echo "machine:     $(nproc) cores, $(uname -sr), $(go version | cut -d' ' -f3-)"
  echo "load before: $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min)"
} >"$RAW/meta.txt"

ARGS=(--scenario mesh --clients "$CLIENTS" --rate "$RATE" --size 100 --duration "$WINDOW" --warmup 2s --reliable --json --quiet)

run() { # NAME [extra pids]
  local name=$1 extra=${2:-}
  log "load $name: ${ARGS[*]}"
  "$BIN/brokerctl" load --coordinator "$COORD_URL" --pids "$SERVER_PIDS${extra:+,$extra}" "${ARGS[@]}" \
    >"$RAW/$name.json" 2>"$LOGS/$name.load.log"
}

start_cluster mesh 3
run mesh
stop_cluster

nport=$(free_port)
"$BIN/bench/natsd" --port "$nport" >"$LOGS/natsd.out" 2>"$LOGS/natsd.log" &
STARTED+=($!)
NATSD_PID=$!
start_cluster nats 3 --set cluster.transport=nats --set nats.url="nats://127.0.0.1:$nport"
run nats "nats-server=$NATSD_PID"
stop_cluster

python3 - "$RAW" "$OUT/transports.md" <<'PY'
import json, sys, pathlib
raw, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
rows = []
for name in ("mesh", "nats"):
    r = json.loads((raw / f"{name}.json").read_text())
    deliveries = r["deliveries_per_sec"] * r["window_seconds"]
    srv = sum(p["cpu_seconds"] for p in r.get("servers", []) if not p.get("name", "").startswith("nats"))
    nats = sum(p["cpu_seconds"] for p in r.get("servers", []) if p.get("name", "").startswith("nats"))
    per = lambda s: f"{1e6 * s / deliveries:.1f}" if deliveries else "-"
    # Copies NATS sends to servers: each message once to every other
    # server holding a subscriber (every server with clients, here).
    copies = r["sent_per_sec"] * r["window_seconds"] * max(len(r.get("clients_per_server") or {}) - 1, 0)
    per_copy = f"{1e6 * nats / copies:.1f}" if nats and copies else "-"
    rows.append(f"| {name} | {r['connected']}/{r['clients']} | {r['rate']:g} | {r['channel']} | {r['deliveries_per_sec']:,.0f} "
                f"| {r['expected_per_sec']:,.0f} | {r['loss_pct']:.3f} | {r['latency']['p50_us']/1000:.1f} "
                f"| {r['latency']['p99_us']/1000:.1f} | {per(srv)} | {per(nats) if nats else '-'} | {per_copy} |")
meta = (raw / "meta.txt").read_text()
out.write_text(f"""# Transports side by side: 3 servers, mesh vs NATS

Made by `bench/transports.sh` (one short run each, the `mesh` load scenario: every client
subscribes to one topic and publishes on it, clients spread over the three servers by the
coordinator). The machine is shared and loaded: other sessions' builds and tests ran at the same
time, so the figures are indicative, not a capacity. CPU per delivery is the communication
servers' together, and the nats-server process's apart, per client delivery and per copy
it sent to a server (each message goes once to every other server with clients). At these
low rates nats-server writes each message with syscalls of its own, so its per-copy figure
is mostly fixed cost, not what it costs when busy.

```
{meta}```

| transport | clients | msg/s each | channel | deliveries/s | expected/s | loss % | p50 ms | p99 ms | servers CPU µs/delivery | nats-server CPU µs/delivery | nats-server CPU µs/copy |
|---|---|---|---|---|---|---|---|---|---|---|---|
""" + "\n".join(rows) + "\n")
print(out.read_text())
PY

#!/usr/bin/env bash
# bench/mesh.sh: the mesh of 3 servers against one server at the same dense
# load (50 clients x RATE msg/s x 100 B, unreliable), alternated in one run
# (single, mesh, mesh, single, ...; ROUNDS pairs), so the mesh's p99 is
# judged as a ratio to the single server's measured minutes apart, not
# against a figure from another day (issue 11). NATS=1 adds the 3 servers
# over NATS (bench/natsd) to each round. Prints each run's p50 and p99 and
# the median mesh / single ratios; the JSON goes to bench/results/mesh/.
#
#   bench/mesh.sh                        3 rounds of 4 s windows
#   ROUNDS=5 WINDOW=8s NATS=1 bench/mesh.sh
#   bench/mesh.sh --set outbound.coalesce=1ms   (commserver flags, every server)
#   UDP_MUX=1 bench/mesh.sh              every server on a single UDP port of its own,
#                                        as bench/run.sh runs both rows
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=${BIN:-$ROOT/bin}
OUT=$ROOT/bench/results/mesh
LOGS=$OUT/logs
ROUNDS=${ROUNDS:-3}
WINDOW=${WINDOW:-4s}
RATE=${RATE:-20}
NATS=${NATS:-0}
LOG_TAG=mesh
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

if [[ ${BUILD:-1} == 1 ]]; then
  make -s build
  go build -o "$BIN/bench/" ./bench/natsd
fi
rm -rf "$OUT"
mkdir -p "$LOGS"
log "load before: $(cut -d' ' -f1-3 /proc/loadavg)"

# Every cluster stays up for the whole run (idle servers cost little), so a
# round is only load runs: name -> coordinator URL and pids.
declare -A URL PIDS
start_cluster single 1 "$@"
URL[single]=$COORD_URL PIDS[single]=$SERVER_PIDS
start_cluster mesh 3 "$@"
URL[mesh]=$COORD_URL PIDS[mesh]=$SERVER_PIDS
MESH_HTTP=("${SERVER_HTTP[@]}")
KINDS=(single mesh)
# GMP1=1 adds the mesh again with GOMAXPROCS=1 in each server (3 servers
# and the generator on 2 cores: what share of the mesh's tail is the Go
# schedulers of 3 processes contending); PIN=1 the mesh with each server
# pinned to a core (taskset), the generator free.
if [[ ${GMP1:-0} == 1 ]]; then
  GOMAXPROCS=1 start_cluster mesh-gmp1 3 "$@"
  URL[mesh-gmp1]=$COORD_URL PIDS[mesh-gmp1]=$SERVER_PIDS
  KINDS+=(mesh-gmp1)
fi
if [[ ${PIN:-0} == 1 ]]; then
  start_cluster mesh-pin 3 "$@"
  URL[mesh-pin]=$COORD_URL PIDS[mesh-pin]=$SERVER_PIDS
  i=0
  for pid in ${SERVER_PIDS//,/ }; do
    taskset -a -p -c $((i % $(nproc))) "${pid#*=}" >/dev/null
    i=$((i + 1))
  done
  KINDS+=(mesh-pin)
fi
if [[ $NATS == 1 ]]; then
  NATS_PORT=$(free_port)
  "$BIN/bench/natsd" --port "$NATS_PORT" >"$LOGS/natsd.out" 2>"$LOGS/natsd.log" &
  STARTED+=($!)
  start_cluster mesh-nats 3 --set cluster.transport=nats --set nats.url="nats://127.0.0.1:$NATS_PORT" "$@"
  URL[mesh-nats]=$COORD_URL PIDS[mesh-nats]=$SERVER_PIDS
  NATS_HTTP=("${SERVER_HTTP[@]}")
  KINDS+=(mesh-nats)
fi

run() {
  local kind=$1 n=$2 scenario=dense
  [[ $kind == single ]] || scenario=mesh
  "$BIN/brokerctl" load --coordinator "${URL[$kind]}" --pids "${PIDS[$kind]}" --json --quiet \
    --scenario "$scenario" --clients 50 --rate "$RATE" --size 100 --duration "$WINDOW" --warmup 1s \
    >"$OUT/$kind-$n.json" 2>"$LOGS/$kind-$n.load.log"
  python3 - "$OUT/$kind-$n.json" "$kind" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
l = d["latency"]
print(f'{sys.argv[2]:>9}  p50 {l["p50_us"]/1000:6.2f} ms  p99 {l["p99_us"]/1000:6.2f} ms  '
      f'loss {d["loss_pct"]:.2f} %  cpu/delivery {d["server_cpu_per_delivery_us"]:.1f} us', end='')
h = d.get("hops")
if h:
    print(f'  local p99 {h["local"]["p99_us"]/1000:6.2f} ms  cross p50 {h["cross"]["p50_us"]/1000:6.2f} p99 {h["cross"]["p99_us"]/1000:6.2f} ms', end='')
print()
EOF
}

for ((r = 1; r <= ROUNDS; r++)); do
  # Alternate the order, so neither side always runs on a machine the other warmed.
  order=("${KINDS[@]}")
  if ((r % 2 == 0)); then
    order=()
    for ((i = ${#KINDS[@]} - 1; i >= 0; i--)); do order+=("${KINDS[i]}"); done
  fi
  for kind in "${order[@]}"; do run "$kind" "$r"; done
done
log "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

# The mesh's server links over the whole run: their mean batch size by
# channel (commserver_link_messages_written_total / _link_writes_total).
for h in "${MESH_HTTP[@]}"; do curl -fs "http://$h/metrics"; done | python3 -c '
import re, sys
tot = {}
for line in sys.stdin:
    m = re.match(r"commserver_link_(messages_written_total|writes_total)\{channel=\"(\w+)\"\} (\S+)", line)
    if m:
        tot[(m[1], m[2])] = tot.get((m[1], m[2]), 0) + float(m[3])
for ch in ("unreliable", "reliable"):
    msgs, writes = tot.get(("messages_written_total", ch), 0), tot.get(("writes_total", ch), 0)
    if writes:
        print(f"mesh links, {ch}: {msgs:.0f} messages in {writes:.0f} data-channel messages, {msgs / writes:.2f} per write")
'

if [[ $NATS == 1 ]]; then
  # Over NATS: whether a subscription went over nats.pending_limit.
  slow=0
  for h in "${NATS_HTTP[@]}"; do
    n=$(curl -fs "http://$h/metrics" | awk '/^commserver_nats_slow_consumer_total /{print $2}')
    slow=$((slow + ${n%.*}))
  done
  echo "mesh-nats: slow-consumer events (over nats.pending_limit): $slow"
fi

python3 - "$OUT" "$ROUNDS" "${KINDS[@]}" <<'EOF'
import json, statistics, sys
out, rounds, kinds = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
def get(kind, r):
    return json.load(open(f"{out}/{kind}-{r}.json"))
for kind in kinds[1:]:
    p99 = [get(kind, r)["latency"]["p99_us"] / get("single", r)["latency"]["p99_us"] for r in range(1, rounds + 1)]
    p50 = [get(kind, r)["latency"]["p50_us"] / get("single", r)["latency"]["p50_us"] for r in range(1, rounds + 1)]
    print(f"{kind} / single: p99 ratio per round {' '.join(f'{x:.2f}' for x in p99)}; "
          f"median p99 {statistics.median(p99):.2f}x, median p50 {statistics.median(p50):.2f}x")
EOF

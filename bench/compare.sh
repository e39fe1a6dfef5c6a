#!/usr/bin/env bash
# bench/compare.sh REV [brokerctl load flags]: the same load against the
# servers of this working tree and of revision REV, built side by side and run
# alternately (tree, REV, REV, tree, ...) on one machine in one go, so that a
# change is judged as a ratio measured in one run rather than against a figure
# from another day. The load generator is this tree's for both sides: only the
# coordinator and the communication server differ.
#
#   bench/compare.sh main                       dense 50 x 20 msg/s x 100 B, batching clients
#   bench/compare.sh main --unbatched 50        the same with 2019-style clients
#   ROUNDS=5 WINDOW=8s bench/compare.sh HEAD~3 --reliable
#   MUX=1 bench/compare.sh main                 both sides' servers on the single UDP port
#   SERVER_SET="--set outbound.coalesce=1ms" bench/compare.sh main   server flags for both sides
#
# Flags after REV replace nothing: they are added to the default dense load
# (a later flag wins). Results: bench/results/compare/{tree,rev}-N.json, the
# processes' logs in bench/results/compare/logs, and a summary on stdout with
# the median of each side and the tree / REV ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
REV=${1:?usage: bench/compare.sh REV [brokerctl load flags]}
shift
ROUNDS=${ROUNDS:-3}
WINDOW=${WINDOW:-10s}
WARMUP=${WARMUP:-3s}
OUT=$ROOT/bench/results/compare
LOGS=$OUT/logs
rm -rf "$OUT"
mkdir -p "$LOGS"

LOG_TAG=compare
BIN=$ROOT/bin # start_cluster reads BIN when it is called
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
OTHER=$(mktemp -d)
trap 'cleanup; rm -rf "$OTHER"' EXIT

log "building the working tree"
make -s build
log "building $REV ($(git rev-parse --short "$REV"))"
mkdir -p "$OTHER/src" "$OTHER/bin"
git archive "$REV" | tar -x -C "$OTHER/src"
(cd "$OTHER/src" && go build -o "$OTHER/bin/" ./cmd/coordinator ./cmd/commserver)
{
  echo "date:   $(date -u +%FT%TZ)"
  echo "tree:   $(git rev-parse --short HEAD)$(git diff --quiet 2>/dev/null || echo ' (with uncommitted changes)')"
  echo "rev:    $REV = $(git rev-parse --short "$REV")"
  echo "load:   $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min) before"
  echo "server: MUX=${MUX:-0} SERVER_SET=${SERVER_SET:-}"
  echo "flags:  --scenario dense --clients 50 --rate 20 --size 100 --duration $WINDOW --warmup $WARMUP $*"
} >"$OUT/meta.txt"

ARGS=(--scenario dense --clients 50 --rate 20 --size 100 --duration "$WINDOW" --warmup "$WARMUP" "$@")

# side NAME ROUND: one cluster of that side's binaries, one load, stopped.
side() {
  local name=$1 round=$2
  if [[ $name == tree ]]; then BIN=$ROOT/bin; else BIN=$OTHER/bin; fi
  local extra=()
  if [[ ${MUX:-0} == 1 ]]; then extra+=(--set webrtc.udp_mux_port="$(free_port)"); fi
  # shellcheck disable=SC2206 # SERVER_SET is a list of flags, split on purpose
  extra+=(${SERVER_SET:-})
  if ! start_cluster "$name-$round" 1 "${extra[@]}"; then
    log "$name round $round: the cluster did not start (see $LOGS)"
    return 0
  fi
  log "$name round $round: ${ARGS[*]}"
  "$ROOT/bin/brokerctl" load --coordinator "$COORD_URL" --pids "$SERVER_PIDS" --json --quiet "${ARGS[@]}" \
    >"$OUT/$name-$round.json" 2>"$LOGS/$name-$round.load.log" || log "$name round $round: the load failed (see $LOGS)"
  stop_cluster
}

for ((round = 1; round <= ROUNDS; round++)); do
  # Alternate which side goes first, so that a drift in the machine's load
  # does not favour one.
  if ((round % 2)); then
    side tree "$round"
    side rev "$round"
  else
    side rev "$round"
    side tree "$round"
  fi
done
echo "load:   $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min) after" >>"$OUT/meta.txt"

cat "$OUT/meta.txt"
python3 - "$OUT" <<'EOF'
import glob, json, os, statistics, sys
out = sys.argv[1]
def runs(side):
    rs = []
    for f in sorted(glob.glob(os.path.join(out, side + "-*.json"))):
        try:
            with open(f) as fh:
                rs.append(json.load(fh))
        except (OSError, ValueError):
            pass
    return rs
figures = [
    ("server CPU µs/delivery", lambda r: r.get("server_cpu_per_delivery_us", 0)),
    ("deliveries/s", lambda r: r.get("deliveries_per_sec", 0)),
    ("loss %", lambda r: r.get("loss_pct", 0)),
    ("p50 ms", lambda r: r["latency"]["p50_us"] / 1000),
    ("p99 ms", lambda r: r["latency"]["p99_us"] / 1000),
    ("datagrams/delivery", lambda r: r.get("datagrams_per_delivery", 0)),
]
tree, rev = runs("tree"), runs("rev")
print(f"\n{len(tree)} runs of the tree, {len(rev)} of the revision; medians:\n")
print(f"| figure | tree | rev | tree / rev |\n|---|---|---|---|")
for name, get in figures:
    if not tree or not rev:
        break
    t, r = statistics.median(map(get, tree)), statistics.median(map(get, rev))
    ratio = f"{t / r:.2f} x" if r else ""
    print(f"| {name} | {t:.3f} | {r:.3f} | {ratio} |")
EOF

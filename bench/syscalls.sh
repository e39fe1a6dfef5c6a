#!/usr/bin/env bash
# bench/syscalls.sh: the server's syscalls per delivery, counted by the
# kernel (perf stat on syscall tracepoints, so the count does not depend on
# how loaded the machine is), and its idle memory per client (RSS growth per
# connected client after a join storm, and goroutines per peer).
#
#   bench/syscalls.sh [--set k=v ...]      one server, these settings
#
# Environment: BIN (built binaries, default bin), RATE (msg/s per client,
# default 10: 50 clients all to all, 24,500 deliveries/s), WINDOW (the
# counted window, default 6s), STORM (idle clients, default 200; 0 skips),
# IDLE (their hold, default 5s), MUX (1: webrtc.udp_mux_port, the default;
# 0: a port per peer), SYSCALLS (0 skips the syscall count: the join storm
# alone, which needs no perf). Needs perf (linux-perf) for the syscall counts.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
RATE=${RATE:-10}
WINDOW=${WINDOW:-6s}
STORM=${STORM:-200}
IDLE=${IDLE:-5s}
MUX=${MUX:-1}
SYSCALLS=${SYSCALLS:-1}
LOGS=$(mktemp -d)
LOG_TAG=syscalls
source bench/lib.sh

args=("$@")
if [[ $MUX == 1 ]]; then
  args+=(--set "webrtc.udp_mux_port=$(free_port)")
fi
metric() { # metric HTTP REGEX: sum of the matching series
  curl -fs "http://$1/metrics" | awk -v re="$2" '$0 ~ re {s += $NF} END {printf "%d", s}'
}

# --- syscalls per delivery under the dense load ----------------------------
if ((SYSCALLS)); then
start_cluster sys 1 "${args[@]}"
pid=${SERVER_PIDS#*=}
http=${SERVER_HTTP[0]}
"$BIN/brokerctl" load --coordinator "$COORD_URL" --scenario dense --clients 50 --rate "$RATE" --size 100 \
  --duration 30s --pids "server=$pid" --quiet --json >"$LOGS/load.json" 2>"$LOGS/load.err" &
load=$!
STARTED+=("$load")
wait_for "http://$http/metrics" '^commserver_peers\{role="CLIENT"\} 50$' 60
sleep 3 # into the load's window
sent0=$(metric "$http" '^commserver_messages_sent_total')
perf stat -x, -e raw_syscalls:sys_enter -e syscalls:sys_enter_sendto -e syscalls:sys_enter_sendmmsg \
  -e syscalls:sys_enter_recvfrom -e syscalls:sys_enter_futex -e syscalls:sys_enter_epoll_pwait \
  -p "$pid" -- sleep "${WINDOW%s}" 2>"$LOGS/perf.csv"
sent1=$(metric "$http" '^commserver_messages_sent_total')
kill "$load" 2>/dev/null || true
wait "$load" 2>/dev/null || true
cleanup
python3 - "$((sent1 - sent0))" "$LOGS/perf.csv" <<'PY'
import csv, sys
d = int(sys.argv[1])
rows = {r[2].split(':')[1].replace('sys_enter_', ''): int(r[0]) for r in csv.reader(open(sys.argv[2])) if len(r) > 2 and r[0].isdigit()}
print("syscalls per delivery (%d deliveries): " % d + " ".join("%s=%.4f" % (k, v / d) for k, v in rows.items()))
PY
fi

# --- idle memory per client after a join storm ------------------------------
if ((STORM > 0)); then
  start_cluster storm 1 "${args[@]}"
  pid=${SERVER_PIDS#*=}
  http=${SERVER_HTTP[0]}
  g0=$(metric "$http" '^go_goroutines ')
  "$BIN/brokerctl" load --coordinator "$COORD_URL" --scenario join-storm --clients "$STORM" --duration "$IDLE" \
    --pids "server=$pid" --quiet --json >"$LOGS/storm.json" 2>"$LOGS/storm.err" &
  load=$!
  STARTED+=("$load")
  wait_for "http://$http/metrics" "^commserver_peers\\{role=\"CLIENT\"\\} $STORM\$" 60
  sleep 2
  g1=$(metric "$http" '^go_goroutines ')
  busy=$(metric "$http" '^commserver_connects_refused_busy_total')
  if [[ -n ${HEAPPROFILE:-} ]]; then
    curl -fs "http://$http/debug/pprof/heap" >"$HEAPPROFILE"
  fi
  wait "$load" || true
  cleanup
  python3 - "$g0" "$g1" "$STORM" "$LOGS/storm.json" "$busy" <<'PY'
import json, sys
g0, g1, n, busy = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[5])
r = json.load(open(sys.argv[4]))
js = r["join_storm"]
ms = lambda us: us / 1000.0
s = js["subscribed"]
print("join storm %d: %d connected, all subscribed in %.0f ms; per-client subscribed p50 %.0f ms, p99 %.0f ms, max %.0f ms; %d busy refusals retried"
      % (n, r["connected"], js["all_subscribed_ms"], ms(s["p50_us"]), ms(s["p99_us"]), js["all_subscribed_ms"], busy))
print("idle clients %d: server RSS %.1f KiB per client, %.2f goroutines per peer" % (n, js["server_rss_per_client_kb"], (g1 - g0) / n))
PY
fi
rm -rf "$LOGS"

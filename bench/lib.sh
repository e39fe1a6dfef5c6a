# Shared by bench/run.sh and bench/soak.sh (sourced, not run): the local
# cluster both start on loopback, and its end. The caller sets BIN (the
# built binaries) and LOGS (where the processes' logs go) first; everything
# start_cluster starts is stopped on exit, however the script exits.

# --- processes we start, and their end -------------------------------------
STARTED=()
cleanup() {
  local i pid
  # Newest first: servers stop before their coordinator, so they do not log
  # a lost coordinator link on the way out.
  for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do
    pid=${STARTED[i]}
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  STARTED=()
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '%s %s: %s\n' "$(date +%T)" "${LOG_TAG:-bench}" "$*" >&2; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_for URL PATTERN SECONDS: poll until the body of URL matches PATTERN.
wait_for() {
  local url=$1 pattern=$2 deadline=$((SECONDS + $3))
  until curl -fs "$url" 2>/dev/null | grep -Eq "$pattern"; do
    if ((SECONDS >= deadline)); then
      log "timed out waiting for $url to match $pattern"
      return 1
    fi
    sleep 0.1
  done
}

# The coordinator admits only servers that prove the cluster secret: one
# per run, random (hex, so it passes through --set unharmed).
CLUSTER_SECRET=$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')

# start_cluster NAME SERVERS [--set k=v ...]: a coordinator and SERVERS
# meshed servers (or, with --set cluster.transport=nats, servers connected
# to NATS); sets COORD_URL and SERVER_PIDS (name=pid,...). With UDP_MUX=1
# each server gets a single UDP port of its own (webrtc.udp_mux_port, with
# its batched writes), as README.md recommends for deployment: a mesh is
# then compared with a single server set up the same way.
start_cluster() {
  local name=$1 n=$2
  shift 2
  local cport
  cport=$(free_port)
  "$BIN/coordinator" --set listen=127.0.0.1:"$cport" --set log.level=warn --set cluster.secret="$CLUSTER_SECRET" \
    >"$LOGS/$name-coordinator.log" 2>&1 &
  STARTED+=($!)
  wait_for "http://127.0.0.1:$cport/readyz" ok 20
  COORD_URL=ws://127.0.0.1:$cport
  SERVER_PIDS=""
  SERVER_HTTP=()
  local ports=() i hport
  for ((i = 1; i <= n; i++)); do
    hport=$(free_port)
    local mux=()
    if [[ ${UDP_MUX:-0} == 1 ]]; then mux=(--set webrtc.udp_mux_port="$(free_port)"); fi
    "$BIN/commserver" --set coordinator_url="$COORD_URL" --set webrtc.loopback_only=true --set cluster.secret="$CLUSTER_SECRET" \
      --set http.listen=127.0.0.1:"$hport" --set http.pprof=true --set log.level=warn "${mux[@]}" "$@" \
      >"$LOGS/$name-server$i.log" 2>&1 &
    STARTED+=($!)
    SERVER_PIDS+="${SERVER_PIDS:+,}server$i=$!"
    ports+=("$hport")
    SERVER_HTTP+=("127.0.0.1:$hport")
  done
  for hport in "${ports[@]}"; do
    if ! wait_for "http://127.0.0.1:$hport/readyz" ok 20; then
      return 1
    fi
    if [[ " $* " == *"cluster.transport=nats"* ]]; then
      # No links over NATS: connected to it instead.
      wait_for "http://127.0.0.1:$hport/metrics" "^commserver_nats_connected 1\$" 30 || return 1
    elif ((n > 1)); then
      # Meshed: linked to every other server.
      wait_for "http://127.0.0.1:$hport/metrics" "^commserver_peers\\{role=\"COMMUNICATION_SERVER\"\\} $((n - 1))\$" 30  || return 1
    fi
  done
  log "cluster $name: coordinator $COORD_URL, servers $SERVER_PIDS"
}

stop_cluster() { cleanup; }


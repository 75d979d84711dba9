# Shared by scripts/restate-*.sh (sourced, not run): install the pinned Restate server from
# restate/server (npm ci, first use only), start nodes on loopback, wait for them, stop them.
# Every node listens on 127.0.0.1 only; logs go to its base dir's server.log.

RESTATE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RESTATE_BIN="$RESTATE_ROOT/restate/server/node_modules/.bin"
RESTATE_PIDS=()
RESTATE_SERVER=

# Installs the pinned server on first use and finds its platform binary (started directly:
# node_modules/.bin/restate-server is a Node wrapper whose child would outlive a SIGKILL).
restate_install() {
  if [ ! -x "$RESTATE_BIN/restate-server" ] || [ ! -x "$RESTATE_BIN/restatectl" ]; then
    echo "installing the pinned Restate server (npm ci in restate/server)" >&2
    (cd "$RESTATE_ROOT/restate/server" && npm ci --no-audit --no-fund --loglevel=error)
  fi
  local bin
  for bin in "$RESTATE_ROOT"/restate/server/node_modules/@restatedev/restate-server-*/bin/restate-server; do
    [ -x "$bin" ] && RESTATE_SERVER=$bin
  done
  if [ -z "$RESTATE_SERVER" ]; then
    echo "no restate-server binary for this platform under restate/server/node_modules" >&2
    return 1
  fi
}

# restate_node DIR NAME NODE_PORT ADMIN_PORT INGRESS_PORT [VAR=VALUE ...]: starts one node in the
# background (its pid joins RESTATE_PIDS).
restate_node() {
  local dir=$1 name=$2 node=$3 admin=$4 ingress=$5
  shift 5
  mkdir -p "$dir"
  env RESTATE_DISABLE_TELEMETRY=true RESTATE_LISTEN_MODE=tcp RESTATE_BIND_IP=127.0.0.1 \
    RESTATE_LOG_DISABLE_ANSI_CODES=true RESTATE_ROCKSDB_TOTAL_MEMORY_SIZE=256MiB \
    RESTATE_NODE_NAME="$name" RESTATE_BIND_PORT="$node" \
    RESTATE_ADMIN__BIND_PORT="$admin" RESTATE_INGRESS__BIND_PORT="$ingress" "$@" \
    "$RESTATE_SERVER" --base-dir "$dir" --no-logo >"$dir/server.log" 2>&1 &
  RESTATE_PIDS+=($!)
}

# restate_wait URL SECONDS: waits until URL answers 2xx, or fails.
restate_wait() {
  local url=$1 deadline=$((SECONDS + $2))
  until curl -fs -o /dev/null "$url"; do
    if [ $SECONDS -ge "$deadline" ]; then
      echo "$url did not answer within $2 s (see the node's server.log)" >&2
      return 1
    fi
    sleep 0.3
  done
}

# restate_wait_leaders NODE_ADDRESS PARTITIONS SECONDS: waits until every partition has a leader.
restate_wait_leaders() {
  local address=$1 want=$2 deadline=$((SECONDS + $3)) have
  while :; do
    have=$({ "$RESTATE_BIN/restatectl" --address "$address" status 2>/dev/null || true; } |
      awk '$1 ~ /^N[0-9]+:/ { sum += $5 } END { print sum + 0 }')
    [ "$have" -ge "$want" ] && return 0
    if [ $SECONDS -ge "$deadline" ]; then
      echo "only $have of $want partitions have a leader after $3 s" >&2
      return 1
    fi
    sleep 0.5
  done
}

restate_stop() {
  local pid
  for pid in ${RESTATE_PIDS[@]+"${RESTATE_PIDS[@]}"}; do
    kill "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  RESTATE_PIDS=()
}

# Waits until a node exits; fails with its status (a node that dies is an error).
restate_wait_any() {
  local status=0
  wait -n || status=$?
  echo "a Restate node exited (status $status); see its server.log" >&2
  return $((status == 0 ? 1 : status))
}

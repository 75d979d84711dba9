#!/usr/bin/env bash
# Starts a 3-node Restate cluster on loopback (replicated log and metadata, replication 2,
# 4 partitions) and keeps it running until Ctrl-C. Node 1 provisions the cluster; nodes 2 and
# 3 join it. Any node's admin and ingress serve the whole cluster; kill one and the other two
# carry on. Installs the pinned server on first use.
#
#   scripts/restate-cluster.sh [BASE_DIR]    (default: a fresh temporary directory)
#
# Ports (environment, node I = 1..3 adds I): RESTATE_NODE_PORT (default 15120 → 15121..15123),
# RESTATE_ADMIN_PORT (19070 → 19071..), RESTATE_INGRESS_PORT (18080 → 18081..). Prints each
# node's `admin URL` and `ingress URL`, then `ready` once every partition has a leader.
set -euo pipefail
source "$(dirname "$0")/restate-lib.sh"

base=${1:-$(mktemp -d -t restate-cluster.XXXXXX)}
node=${RESTATE_NODE_PORT:-15120}
admin=${RESTATE_ADMIN_PORT:-19070}
ingress=${RESTATE_INGRESS_PORT:-18080}
name="usage-connector-$$"
members="[\"http://127.0.0.1:$((node + 1))/\",\"http://127.0.0.1:$((node + 2))/\",\"http://127.0.0.1:$((node + 3))/\"]"

restate_install
trap restate_stop EXIT
trap 'exit 130' INT TERM
for i in 1 2 3; do
  # Auto-provisioning is on by default: a second node with it would found a cluster of its own.
  provision=false
  [ "$i" = 1 ] && provision=true
  restate_node "$base/n$i" "n$i" $((node + i)) $((admin + i)) $((ingress + i)) \
    RESTATE_CLUSTER_NAME="$name" RESTATE_AUTO_PROVISION=$provision \
    RESTATE_ADVERTISED_ADDRESS="http://127.0.0.1:$((node + i))/" \
    RESTATE_METADATA_CLIENT__ADDRESSES="$members" \
    RESTATE_DEFAULT_REPLICATION=2 RESTATE_DEFAULT_NUM_PARTITIONS=4
done
for i in 1 2 3; do
  restate_wait "http://127.0.0.1:$((admin + i))/health" 120
  restate_wait "http://127.0.0.1:$((ingress + i))/restate/health" 120
  echo "n$i admin http://127.0.0.1:$((admin + i)) ingress http://127.0.0.1:$((ingress + i)) logs $base/n$i/server.log"
done
restate_wait_leaders "http://127.0.0.1:$((node + 1))/" 4 120
echo "status: $RESTATE_BIN/restatectl --address http://127.0.0.1:$((node + 1))/ status"
echo ready
# A node that dies (or is killed to watch the others carry on) is left dead; the script ends
# when all have ended or on Ctrl-C.
wait

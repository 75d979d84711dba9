#!/usr/bin/env bash
# Starts one Restate node on loopback and keeps it running until Ctrl-C (it stops with the
# script). Installs the pinned server on first use.
#
#   scripts/restate-single.sh [BASE_DIR]     (default: a fresh temporary directory)
#
# Ports (environment): RESTATE_NODE_PORT (default 5122), RESTATE_ADMIN_PORT (9070),
# RESTATE_INGRESS_PORT (8080). Prints `admin URL` and `ingress URL` lines, then `ready`.
set -euo pipefail
source "$(dirname "$0")/restate-lib.sh"

base=${1:-$(mktemp -d -t restate-single.XXXXXX)}
node=${RESTATE_NODE_PORT:-5122}
admin=${RESTATE_ADMIN_PORT:-9070}
ingress=${RESTATE_INGRESS_PORT:-8080}

restate_install
trap restate_stop EXIT
trap 'exit 130' INT TERM
restate_node "$base/n1" n1 "$node" "$admin" "$ingress"
restate_wait "http://127.0.0.1:$admin/health" 60
restate_wait "http://127.0.0.1:$ingress/restate/health" 60
echo "admin http://127.0.0.1:$admin"
echo "ingress http://127.0.0.1:$ingress"
echo "logs $base/n1/server.log"
echo ready
restate_wait_any

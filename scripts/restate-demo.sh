#!/usr/bin/env bash
# The Restate path end to end, offline: starts the sandbox (with a state file), a Restate
# single node (or, with `cluster`, a 3-node cluster) from the pinned npm package, the
# usage-restate service registered with it, then submits a sample workflow under an execution
# id and prints its result; submits the same id again to show that it runs once. Stops
# everything on exit.
#
#   scripts/restate-demo.sh [single|cluster] [WORKFLOW INPUT]
#
# Defaults: workflows/charge-then-usage.json with its example input. Ports of the Restate
# nodes: see scripts/restate-single.sh and scripts/restate-cluster.sh.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
mode=${1:-single}
workflow=${2:-workflows/charge-then-usage.json}
input=${3:-workflows/examples/charge-then-usage.input.json}
case $mode in single | cluster) ;; *)
  echo "usage: scripts/restate-demo.sh [single|cluster] [WORKFLOW INPUT]" >&2
  exit 2
  ;;
esac

work=$(mktemp -d -t restate-demo.XXXXXX)
pids=()
# On the way out: stop what it started; remove its folder (kept, and named, when it failed).
cleanup() {
  local status=$?
  for pid in ${pids[@]+"${pids[@]}"}; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "$status" -eq 0 ]; then
    rm -rf "$work"
  else
    echo "logs and state kept in $work" >&2
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_line FILE PATTERN SECONDS: waits until a line of FILE matches PATTERN; prints it.
wait_line() {
  local deadline=$((SECONDS + $3))
  until grep -m1 -E "$2" "$1" 2>/dev/null; do
    if [ $SECONDS -ge "$deadline" ]; then
      echo "no '$2' in $1 within $3 s:" >&2
      cat "$1" >&2
      return 1
    fi
    sleep 0.2
  done
}

echo "== build" >&2
cargo build --locked --quiet -p usage-connector -p usage-restate
bin="${CARGO_TARGET_DIR:-$root/target}/debug"

echo "== sandbox (state in $work/sandbox.jsonl)" >&2
"$bin/usage-connector" sandbox --state "$work/sandbox.jsonl" >"$work/sandbox.out" 2>"$work/sandbox.err" &
pids+=($!)
sandbox=$(wait_line "$work/sandbox.out" '^listening on ' 30 | sed 's/^listening on //')
# The least privileged dev key of each vendor that may write (the sandbox prints its keys
# right after its address).
sleep 0.5
key_for() { awk -v may="$1" -v not="$2" '/^api key / && index($5, may) && !index($5, not) { print $3; exit }' "$work/sandbox.out"; }
solvimon_key=$(key_for METER_DATA.INGEST USAGES)
rebilly_key=$(key_for USAGES.CREATE METER_DATA)
echo "sandbox $sandbox" >&2

echo "== restate ($mode)" >&2
"scripts/restate-$mode.sh" "$work/restate" >"$work/restate.out" 2>&1 &
pids+=($!)
wait_line "$work/restate.out" '^ready$' 180 >/dev/null
cat "$work/restate.out" >&2
admin=$(grep -m1 -oE 'admin http://[^ ]+' "$work/restate.out" | cut -d' ' -f2)
ingress=$(grep -m1 -oE 'ingress http://[^ ]+' "$work/restate.out" | cut -d' ' -f2)

echo "== service" >&2
SOLVIMON_API_KEY=$solvimon_key REBILLY_API_KEY=$rebilly_key "$bin/usage-restate" serve \
  --listen 127.0.0.1:0 --register "$admin" \
  --server "solvimon=$sandbox" --server "rebilly=$sandbox" >"$work/service.out" 2>"$work/service.err" &
pids+=($!)
wait_line "$work/service.out" '^registered' 60 >&2

id="demo-$$"
submit() { "$bin/usage-restate" submit "$workflow" --input "$input" --id "$id" --ingress "$ingress"; }
echo "== submit $workflow as $id" >&2
status=0
submit >"$work/first.json" || status=$?
cat "$work/first.json"
[ "$status" = 0 ] || exit "$status"
echo "== submit $id again: runs nothing new, answers with the first result" >&2
submit >"$work/again.json"
cmp -s "$work/first.json" "$work/again.json" && echo "same result" >&2 || {
  echo "a different result the second time:" >&2
  cat "$work/again.json" >&2
  exit 1
}
echo "sandbox records: $(curl -fs "$sandbox/_sandbox/stats")" >&2

#!/usr/bin/env bash
# Measures this connector's JSONata against the JSONata project's own test suite
# (jsonata-js `test/test-suite`, fetched at a pinned commit; not vendored) and prints the
# Markdown table of docs/templates.md. Usage: scripts/jsonata-conformance.sh [SUITE_DIR]
# (a `test/test-suite` directory you already have; default: download the pinned commit).
set -euo pipefail
COMMIT=6c7e95fdbf4405a1e741852a7cd8cd985b4305bb # jsonata-js v2.2.2, as embedded
here="$(cd "$(dirname "$0")/.." && pwd)"
suite="${1:-}"
if [ -z "$suite" ]; then
  scratch="$(mktemp -d)"
  trap 'rm -rf "$scratch"' EXIT
  curl -fsSL "https://codeload.github.com/jsonata-js/jsonata/tar.gz/$COMMIT" |
    tar xz -C "$scratch" "jsonata-$COMMIT/test/test-suite"
  suite="$scratch/jsonata-$COMMIT/test/test-suite"
fi
cd "$here"
cargo run --quiet --release -p usage-connector --example jsonata_conformance -- "$suite"

#!/usr/bin/env bash
# The test command: Rust tests (cargo nextest if present, else cargo test), then the Python
# tests that hold the emitted schemas to an independent validator. Creates .venv on first use.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import jsonschema, rfc3339_validator, pytest' 2>/dev/null; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt
fi

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
  cargo test --workspace --locked --doc
else
  cargo test --workspace --locked --no-fail-fast
fi
.venv/bin/python -m pytest -q tests/python

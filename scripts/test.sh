#!/usr/bin/env bash
# The test command: Rust tests (cargo nextest if present, else cargo test), then the Python tests
# (an independent JSON Schema validator; Solvimon's Python SDK against the sandbox) and the
# Node tests (ajv on the published schemas; Rebilly's JS SDK against the sandbox), then the
# studio's end-to-end tests in Debian's chromium (installed with apt-get when missing). Installs
# .venv, tests/js/node_modules and the pinned Restate server (restate/server/node_modules, which
# the usage-restate tests start) on first use (again when a package is missing).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import jsonschema, rfc3339_validator, pytest, solvimon_python_sdk' 2>/dev/null; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt
fi

if [ ! -x restate/server/node_modules/.bin/restate-server ] || [ ! -x restate/server/node_modules/.bin/restatectl ]; then
  (cd restate/server && npm ci --no-audit --no-fund --loglevel=error)
fi

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
  cargo test --workspace --locked --doc
else
  cargo test --workspace --locked --no-fail-fast
fi
if [ ! -d tests/js/node_modules/rebilly-js-sdk ] || [ ! -d tests/js/node_modules/ajv-formats ]; then
  (cd tests/js && npm ci --no-audit --no-fund --loglevel=error)
fi

.venv/bin/python -m pytest -q tests/python
(cd tests/js && npm test --silent)

# The studio in a real browser: Debian's chromium (Playwright's own downloads are not used).
if [ -z "${CHROMIUM:-}" ] && ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
fi
if [ ! -d tests/e2e/node_modules/playwright-core ]; then
  (cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error)
fi
cargo build --quiet --locked -p usage-connector
target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
(cd tests/e2e && STUDIO_BIN="$target_dir/debug/usage-connector" npm test --silent)

"""Starts `usage-connector sandbox` as a real process on loopback and reads its address and keys."""

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The debug binary: $USAGE_CONNECTOR_BIN, else cargo's target directory ($CARGO_TARGET_DIR, taken
# relative to the repository root, or target/).
BIN = Path(
    os.environ.get("USAGE_CONNECTOR_BIN")
    or ROOT / os.environ.get("CARGO_TARGET_DIR", "target") / "debug/usage-connector"
)


class Sandbox:
    def __init__(self, *args):
        self.proc = subprocess.Popen([str(BIN), "sandbox", *args], stdout=subprocess.PIPE, text=True)
        first = self.proc.stdout.readline().strip()
        assert first.startswith("listening on http://127.0.0.1:"), first
        self.url = first.removeprefix("listening on ")
        self.keys = {}
        for _ in range(4):
            parts = self.proc.stdout.readline().split()
            assert parts[:2] == ["api", "key"] and parts[3] == "permissions", parts
            self.keys[parts[2]] = parts[4].split(",")

    def close(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)

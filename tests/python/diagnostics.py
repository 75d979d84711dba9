"""What `usage-connector validate --format json` reports for one definition (run once per file),
and which of its codes are verdicts a task's JSON Schema gives."""

import json
import subprocess

from sandbox_process import BIN

# The schema classes of a task: what its http-task.schema.json (or the generic task shape)
# decides. E-DECIMALS is not one: the exact-decimals rule is the connector's own (docs/schemas.md).
SCHEMA_CODES = frozenset({"E-SCHEMA", "E-TYPE", "E-REQUIRED", "E-UNKNOWN-FIELD", "E-RANGE", "E-METHOD", "E-URL"})

_reports = {}


def diagnostics(path):
    """Every diagnostic `validate` reports for the file at `path`."""
    if path not in _reports:
        out = subprocess.run([str(BIN), "validate", "--format", "json", str(path)], capture_output=True, check=False)
        assert out.returncode in (0, 1), out.stderr.decode()
        _reports[path] = json.loads(out.stdout)
    return _reports[path]


def error_codes(path):
    """The codes of the errors `validate` reports for the file at `path`."""
    return {d["code"] for d in diagnostics(path) if d["severity"] == "error"}

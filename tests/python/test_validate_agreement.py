"""For every Http task of the validation corpus (tests/workflows), Python's `jsonschema` with the
endpoint's http-task.schema.json reaches the same valid/invalid verdict as `usage-connector
validate`.

The comparison covers what the published schema expresses: `validate` errors of the schema
classes (E-SCHEMA, E-TYPE, E-REQUIRED, E-UNKNOWN-FIELD, E-RANGE, E-METHOD, E-URL) located in the
task. Rules beyond a single task's schema (routing, auth, placeholder syntax) are not schema
verdicts, and neither is E-DECIMALS: the exact-decimals rule is published as a `$comment` only
and checked by the connector alone (docs/schemas.md). Files are read with plain `json.loads`
(floats), as users run Python `jsonschema`.
"""

import json
import re
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from diagnostics import SCHEMA_CODES
from diagnostics import diagnostics as rust_diagnostics

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "schemas"
INDEX = json.loads((SCHEMAS / "index.json").read_text(encoding="utf-8"))


def http_task_schemas():
    out = []
    for e in INDEX["endpoints"]:
        schema = json.loads((SCHEMAS / e["schemas"]["http_task"]).read_text(encoding="utf-8"))
        req = schema["properties"]["httpRequest"]["properties"]
        out.append((e["id"], re.compile(req["url"]["pattern"]), req["method"]["const"],
                    Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)))
    return out


ENDPOINTS = http_task_schemas()


def escape(token):
    return token.replace("~", "~0").replace("/", "~1")


def http_tasks(tasks, scope=""):
    if not isinstance(tasks, dict):
        return
    for name, task in tasks.items():
        pointer = f"{scope}/tasks/{escape(name)}"
        if not isinstance(task, dict):
            continue
        if task.get("type") == "Http":
            yield pointer, task
        for i, branch in enumerate(task.get("branches") or []):
            if isinstance(branch, dict):
                yield from http_tasks(branch.get("tasks"), f"{pointer}/branches/{i}")


def corpus_tasks():
    for kind in ("valid", "invalid"):
        for path in sorted((ROOT / "tests/workflows" / kind).glob("*.json")):
            try:
                doc = json.loads(path.read_bytes().decode("utf-8"))
            except (UnicodeDecodeError, ValueError, RecursionError):
                continue
            if not isinstance(doc, dict):
                continue
            for pointer, task in http_tasks(doc.get("tasks")):
                request = task.get("httpRequest") or {}
                url, method = request.get("url"), request.get("method")
                for endpoint, url_re, const, validator in ENDPOINTS:
                    if isinstance(url, str) and url_re.search(url) and method == const:
                        yield path, pointer, endpoint, task, validator


CASES = list(corpus_tasks())


def test_corpus_has_http_tasks_with_both_verdicts():
    verdicts = {not list(v.iter_errors(t)) for _, _, _, t, v in CASES}
    assert len(CASES) >= 30 and verdicts == {True, False}, (len(CASES), verdicts)


@pytest.mark.parametrize("path,pointer,endpoint,task,validator", CASES,
                         ids=[f"{c[0].parent.name}/{c[0].name}:{c[1]}" for c in CASES])
def test_python_and_validate_agree_on_the_task(path, pointer, endpoint, task, validator):
    python_errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(task)]
    rust_errors = [
        d for d in rust_diagnostics(path)
        if d["severity"] == "error" and d["code"] in SCHEMA_CODES
        and (d["pointer"] == pointer or d["pointer"].startswith(pointer + "/"))
    ]
    assert (not python_errors) == (not rust_errors), (endpoint, python_errors, rust_errors)


def test_the_exactness_rule_is_the_connectors_own():
    # quantity-four-decimals.json breaks only the decimals rule: `validate` rejects it with
    # E-DECIMALS, Python `jsonschema` (floats, published schema) accepts it.
    path = ROOT / "tests/workflows/invalid/quantity-four-decimals.json"
    (case,) = [c for c in CASES if c[0] == path]
    assert list(case[4].iter_errors(case[3])) == []
    errors = [d for d in rust_diagnostics(path) if d["severity"] == "error"]
    assert [(d["code"], d["pointer"]) for d in errors] == [
        ("E-DECIMALS", "/tasks/Report usage/httpRequest/body/quantity")
    ]

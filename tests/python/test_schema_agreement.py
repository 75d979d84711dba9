"""Python's `jsonschema` (an independent validator) against the emitted schema files.

Every case of connector/tests/data/request-cases.json must get the verdict the vendor pages
give, exactly as the Rust side (jsonschema crate + serde) does. Numbers are read as Decimal
(`parse_float=Decimal`) so `multipleOf: 0.001` is exact; see docs/schemas.md.
"""

import json
from decimal import Decimal
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "schemas"
CASES = json.loads(
    (ROOT / "connector/tests/data/request-cases.json").read_text(encoding="utf-8"),
    parse_float=Decimal,
)["cases"]
INDEX = json.loads((SCHEMAS / "index.json").read_text(encoding="utf-8"))


def load(rel):
    return json.loads((SCHEMAS / rel).read_text(encoding="utf-8"), parse_float=Decimal)


def validator(rel):
    return Draft202012Validator(load(rel), format_checker=Draft202012Validator.FORMAT_CHECKER)


def test_date_time_format_is_really_checked():
    # Without rfc3339-validator installed, jsonschema silently skips date-time checks.
    assert not Draft202012Validator.FORMAT_CHECKER.conforms("yesterday", "date-time")
    assert Draft202012Validator.FORMAT_CHECKER.conforms("2024-07-01T10:50:00Z", "date-time")


SCHEMA_FILES = sorted(
    p.relative_to(SCHEMAS).as_posix() for p in SCHEMAS.rglob("*.schema.json")
)


def test_every_endpoint_has_its_three_schema_files():
    assert len(INDEX["endpoints"]) == 5
    for endpoint in INDEX["endpoints"]:
        for rel in endpoint["schemas"].values():
            assert rel in SCHEMA_FILES


@pytest.mark.parametrize("rel", SCHEMA_FILES)
def test_schema_is_valid_draft_2020_12(rel):
    schema = load(rel)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize(
    "case", CASES, ids=[f"{c['endpoint']}: {c['name']}" for c in CASES]
)
def test_request_case_verdict(case):
    v = validator(f"{case['endpoint']}/request.schema.json")
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in v.iter_errors(case["body"])]
    assert (not errors) == case["valid"], errors


@pytest.mark.parametrize("endpoint", [e["id"] for e in INDEX["endpoints"]])
def test_http_task_schema_accepts_placeholder_bodies_and_rejects_bad_literals(endpoint):
    entry = next(e for e in INDEX["endpoints"] if e["id"] == endpoint)
    server = entry["servers"][0]["url"]
    path = entry["path"].replace("{version}", "1")
    task = {
        "type": "Http",
        "credentials": entry["vendor"],
        "httpRequest": {"url": server + path, "method": "POST", "body": "${$.body}"},
        "end": True,
    }
    v = validator(entry["schemas"]["http_task"])
    assert list(v.iter_errors(task)) == []
    task["httpRequest"]["method"] = "GET"
    assert list(v.iter_errors(task)) != []
    task["httpRequest"]["method"] = "POST"
    task["httpRequest"]["body"] = {"unknown_field": "x"}
    assert list(v.iter_errors(task)) != []

"""Python's `jsonschema` (an independent validator) against the emitted schema files, run as
editors and users run it: plain `json.loads`, so numbers are floats.

Every case of connector/tests/data/request-cases.json must get the verdict the vendor pages
give, exactly as the Rust side (jsonschema crate + serde) does, except the cases marked
`"external": false`: their only fault is the exact-decimals rule, which the published schemas
state as a `$comment` only (docs/schemas.md), so an external validator accepts them.
"""

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "schemas"
CASES = json.loads((ROOT / "connector/tests/data/request-cases.json").read_text(encoding="utf-8"))["cases"]
INDEX = json.loads((SCHEMAS / "index.json").read_text(encoding="utf-8"))


def load(rel):
    return json.loads((SCHEMAS / rel).read_text(encoding="utf-8"))


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
    expected = case["valid"] or case.get("external") is False
    assert (not errors) == expected, errors


ACCEPTED = ["0.001", "1.001", "2.675", "1070468.14", "9999999.999"]
REJECTED = ["0.0005"]
REBILLY = next(e for e in INDEX["endpoints"] if e["id"] == "rebilly.create-usage")


def usage_body(quantity):
    return json.loads(f'{{"subscriptionId": "sub_1", "quantity": {quantity}}}')


def usage_task(body):
    return {
        "type": "Http",
        "credentials": "rebilly",
        "httpRequest": {"url": REBILLY["servers"][0]["url"] + REBILLY["path"], "method": "POST", "body": body},
        "end": True,
    }


@pytest.mark.parametrize("kind", ["request", "response", "http_task"])
def test_quantities_with_at_most_three_decimals_are_accepted_with_float_parsing(kind):
    v = validator(REBILLY["schemas"][kind])
    wrap = (lambda q: usage_task(usage_body(q))) if kind == "http_task" else usage_body
    for q in ACCEPTED:
        assert [e.message for e in v.iter_errors(wrap(q))] == [], q
    for q in REJECTED:
        assert list(v.iter_errors(wrap(q))) != [], q


def test_the_published_quantity_states_the_decimals_rule_without_multiple_of():
    quantity = load(REBILLY["schemas"]["request"])["properties"]["quantity"]
    assert "multipleOf" not in quantity
    assert quantity["minimum"] == 0.001
    assert quantity["$comment"].startswith("At most 3 decimal places")


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

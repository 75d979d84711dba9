"""Editors check what `usage-connector validate` checks, as far as JSON Schema can (docs/editors.md).

Python `jsonschema` runs the published workflow-definition schema as an editor or a user would:
the file alone (an empty `referencing` registry that retrieves nothing, so any reference outside
the file would fail), plain `json.loads` (numbers are floats), formats checked.

- Every definition of tests/workflows/invalid/ for which `validate` reports an error of a class
  JSON Schema can state (EDITOR_CODES) is rejected.
- Every definition of tests/workflows/valid/ and workflows/ is accepted.
- Every other invalid definition is rejected by `validate` for a reason no JSON Schema states
  (VALIDATE_ONLY); `pytest -rP` prints them with the schema's verdict.
"""

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from referencing import Registry

from diagnostics import SCHEMA_CODES, error_codes

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "schemas/simworkflow/workflow-definition.schema.json").read_text(encoding="utf-8"))
EDITOR = Draft202012Validator(SCHEMA, registry=Registry(), format_checker=Draft202012Validator.FORMAT_CHECKER)

# What a JSON Schema states: a task's schema classes, the task type tag, the root's type and
# the length of task names.
EDITOR_CODES = SCHEMA_CODES | {"E-TASK-TYPE", "E-ROOT", "E-NAME-LENGTH"}
# Why only `validate` reports the other error codes.
VALIDATE_ONLY = {
    "E-JSON": "not JSON (an editor shows a syntax error)",
    "E-UTF8": "not UTF-8 (an editor shows an encoding error)",
    "E-TOO-LARGE": "file size",
    "E-START-MISSING": "routing",
    "E-NEXT-MISSING": "routing",
    "E-NEXT-AND-END": "routing",
    "E-NO-NEXT": "routing",
    "E-TERMINATE-NEXT": "routing",
    "E-END-NOT-ALLOWED": "routing",
    "E-NO-END": "routing",
    "E-PLACEHOLDER": "placeholder syntax",
    "E-JSONATA": "JSONata syntax",
    "E-CONDITION": "Decision condition language",
    "E-NAME-DUPLICATE": "duplicate names (a JSON parser keeps one; across branches)",
    "E-DUPLICATE-KEY": "duplicate keys (a JSON parser keeps one)",
    "E-AUTH": "credentials or an auth header",
    "E-DECIMALS": "exact decimals (published as a $comment only)",
    "E-DATA": "data flow between tasks",
    "E-UNKNOWN-PATH": "a catalog host's paths by name (did-you-mean)",
    "E-INPUT-SCHEMA": "an inputSchema that does not compile (the draft's metaschema is not inlined)",
}


def read(path):
    """The definition as `json.loads` reads it, or None when it is not JSON to Python."""
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None


def editor_errors(doc):
    return [f"/{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in EDITOR.iter_errors(doc)]


INVALID = sorted((ROOT / "tests/workflows/invalid").glob("*.json"))
CAUGHT = [p for p in INVALID if error_codes(p) & EDITOR_CODES]
NOT_CAUGHT = [p for p in INVALID if not error_codes(p) & EDITOR_CODES]
VALID = sorted((ROOT / "tests/workflows/valid").glob("*.json")) + sorted((ROOT / "workflows").glob("*.json"))


def test_the_schema_is_draft_2020_12_and_refers_only_to_itself():
    Draft202012Validator.check_schema(SCHEMA)
    refs = []

    def collect(node):
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                refs.append(node["$ref"])
            for v in node.values():
                collect(v)
        elif isinstance(node, list):
            for v in node:
                collect(v)

    collect(SCHEMA)
    assert refs and all(r.startswith("#/$defs/") for r in refs), [r for r in refs if not r.startswith("#/")]


def test_the_corpus_has_cases_of_both_kinds():
    assert len(CAUGHT) >= 25 and len(NOT_CAUGHT) >= 15, (len(CAUGHT), len(NOT_CAUGHT))
    names = {p.name for p in CAUGHT}
    for case in ("body-field-typo.json", "body-missing-required-field.json",
                 "charge-value-wrong-type-in-branch.json", "http-url-unparseable.json"):
        assert case in names, case


@pytest.mark.parametrize("path", CAUGHT, ids=[f"{p.name}: {' '.join(sorted(error_codes(p)))}" for p in CAUGHT])
def test_an_editor_catches_every_schema_class_mistake(path):
    doc = read(path)
    assert doc is not None, path
    assert editor_errors(doc) != [], f"{path.name}: validate says {sorted(error_codes(path))}, the schema accepts it"


@pytest.mark.parametrize("path", VALID, ids=[p.relative_to(ROOT).as_posix() for p in VALID])
def test_an_editor_accepts_every_valid_definition(path):
    assert error_codes(path) == set(), path
    assert editor_errors(read(path)) == []


@pytest.mark.parametrize(
    "path", NOT_CAUGHT,
    ids=[f"{'; '.join(sorted({VALIDATE_ONLY.get(c, c) for c in error_codes(p)}))}: {p.name}" for p in NOT_CAUGHT],
)
def test_only_validate_catches_the_rest(path):
    codes = error_codes(path)
    assert codes and codes <= VALIDATE_ONLY.keys(), f"{path.name}: {sorted(codes)} not classified"
    doc = read(path)
    verdict = "not JSON" if doc is None else ("rejects it anyway" if editor_errors(doc) else "accepts it")
    print(f"{path.name}: validate {sorted(codes)}; the editor schema {verdict}")


def test_an_editor_cannot_count_decimals():
    # quantity-four-decimals.json breaks only the exact-decimals rule (1.2345): `validate` rejects
    # it with E-DECIMALS, the published schema (where the rule is a $comment) accepts it.
    path = ROOT / "tests/workflows/invalid/quantity-four-decimals.json"
    assert error_codes(path) == {"E-DECIMALS"}
    assert editor_errors(read(path)) == []


def test_a_bad_body_in_a_parallel_branch_is_reported_where_it_is():
    doc = read(ROOT / "tests/workflows/invalid/charge-value-wrong-type-in-branch.json")
    assert len(editor_errors(doc)) == 1, editor_errors(doc)
    # The most relevant error (what an editor underlines) is the field itself: 12.5 is a number,
    # a charge's `value.number` a decimal string or a placeholder.
    error = best_match(EDITOR.iter_errors(doc))
    assert list(error.absolute_path) == [
        "tasks", "Fan out", "branches", 1, "tasks", "Solvimon", "httpRequest", "body", "value", "number"
    ]
    assert error.instance == 12.5


def test_an_http_task_off_the_catalog_keeps_the_generic_shape():
    doc = read(ROOT / "tests/workflows/invalid/body-field-typo.json")
    assert editor_errors(doc) != []
    # The same task sent elsewhere (another host, or another method on the same URL) is not a
    # catalog call: any body passes, as `validate` notes N-UNKNOWN-URL and checks no body.
    task = doc["tasks"]["Report usage"]
    task["httpRequest"]["url"] = "https://billing.example.com/usages"
    assert editor_errors(doc) == []
    task["httpRequest"]["url"] = "https://api.rebilly.com/usages"
    task["httpRequest"]["method"] = "PUT"
    assert editor_errors(doc) == []


def test_a_definition_may_name_the_schema(tmp_path):
    # The `$schema` alternative of docs/editors.md: the key is part of the model, so both the
    # editor schema and `validate` accept a definition that carries it.
    doc = {"$schema": "../schemas/simworkflow/workflow-definition.schema.json", **read(ROOT / "workflows/rebilly-create-usage.json")}
    path = tmp_path / "flow.json"
    path.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    assert editor_errors(doc) == []
    assert error_codes(path) == set()

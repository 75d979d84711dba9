// The published schemas (schemas/) in ajv with its DEFAULT options, as editors and users run it:
// draft 2020-12, strict mode on, no `multipleOfPrecision`, numbers read by JSON.parse (doubles).
// Every schema must compile, every request case of connector/tests/data/request-cases.json must
// get its verdict (cases marked `"external": false` break only the exact-decimals rule that
// external validators cannot see, so they accept them), and valid quantities with at most three
// decimals must never be rejected. The workflow-definition schema must judge the validation
// corpus as `usage-connector validate` does, as far as JSON Schema can (docs/editors.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const schemaDir = path.join(root, 'schemas');
const read = (file) => JSON.parse(readFileSync(file, 'utf8'));
const index = read(path.join(schemaDir, 'index.json'));
const { cases } = read(path.join(root, 'connector/tests/data/request-cases.json'));

// Every published schema, under its own `$id` (they share one base URI).
function defaultAjv() {
  const ajv = new Ajv2020();
  addFormats(ajv);
  for (const rel of readdirSync(schemaDir, { recursive: true })) {
    if (rel.endsWith('.schema.json')) ajv.addSchema(read(path.join(schemaDir, rel)));
  }
  return ajv;
}

const ajv = defaultAjv();
const idOf = (rel) => read(path.join(schemaDir, rel)).$id;
const validator = (rel) => ajv.getSchema(idOf(rel));
const rebilly = index.endpoints.find((e) => e.id === 'rebilly.create-usage');

const ACCEPTED = ['0.001', '1.001', '2.675', '1070468.14', '9999999.999'];
const REJECTED = ['0.0005'];

const usageBody = (quantity) => JSON.parse(`{"subscriptionId": "sub_1", "quantity": ${quantity}}`);

function usageTask(body) {
  return {
    type: 'Http',
    credentials: 'rebilly',
    httpRequest: { url: `${rebilly.servers[0].url}${rebilly.path}`, method: 'POST', body },
    end: true,
  };
}

test('every published schema compiles in strict mode', () => {
  const files = readdirSync(schemaDir, { recursive: true }).filter((f) => f.endsWith('.schema.json'));
  assert.equal(files.length, 5 * 3 + 1);
  for (const rel of files) assert.equal(typeof validator(rel), 'function', rel);
});

test('the request schema accepts quantities with at most three decimals and rejects 0.0005', () => {
  const check = validator(rebilly.schemas.request);
  for (const q of ACCEPTED) assert.ok(check(usageBody(q)), `${q}: ${JSON.stringify(check.errors)}`);
  for (const q of REJECTED) assert.ok(!check(usageBody(q)), q);
});

test('the http-task schema accepts literal quantities with at most three decimals and rejects 0.0005', () => {
  const check = validator(rebilly.schemas.http_task);
  for (const q of ACCEPTED) {
    assert.ok(check(usageTask(usageBody(q))), `${q}: ${JSON.stringify(check.errors)}`);
  }
  for (const q of REJECTED) assert.ok(!check(usageTask(usageBody(q))), q);
});

test('the response schema accepts recorded quantities with at most three decimals', () => {
  const check = validator(rebilly.schemas.response);
  for (const q of ACCEPTED) assert.ok(check(usageBody(q)), `${q}: ${JSON.stringify(check.errors)}`);
  for (const q of REJECTED) assert.ok(!check(usageBody(q)), q);
});

test('every request case gets the verdict external validators can give', () => {
  const wrong = [];
  for (const c of cases) {
    const check = validator(`${c.endpoint}/request.schema.json`);
    const expected = c.valid || c.external === false;
    if (check(c.body) !== expected) {
      wrong.push(`${c.endpoint} / ${c.name}: expected ${expected}, ${JSON.stringify(check.errors)}`);
    }
  }
  assert.deepEqual(wrong, []);
});

// The debug binary: $USAGE_CONNECTOR_BIN, else cargo's target directory ($CARGO_TARGET_DIR, taken
// relative to the repository root, or target/).
const bin = process.env.USAGE_CONNECTOR_BIN
  || path.resolve(root, process.env.CARGO_TARGET_DIR || 'target', 'debug/usage-connector');
// Error codes whose rule the published workflow schema states (tests/python/test_editor_schema.py).
const EDITOR_CODES = new Set(['E-SCHEMA', 'E-TYPE', 'E-REQUIRED', 'E-UNKNOWN-FIELD', 'E-RANGE', 'E-METHOD',
  'E-URL', 'E-TASK-TYPE', 'E-ROOT', 'E-NAME-LENGTH']);

// Error codes `validate` reports, by corpus file.
function validateCodes(dir) {
  const out = spawnSync(bin, ['validate', '--format', 'json', dir], { cwd: root, encoding: 'utf8' });
  assert.ok([0, 1].includes(out.status), `${bin}: ${out.error ?? out.stderr}`);
  const codes = new Map();
  for (const d of JSON.parse(out.stdout)) {
    if (d.severity !== 'error') continue;
    if (!codes.has(d.file)) codes.set(d.file, new Set());
    codes.get(d.file).add(d.code);
  }
  return codes;
}

const jsonFiles = (rel) => readdirSync(path.join(root, rel)).filter((f) => f.endsWith('.json')).map((f) => `${rel}/${f}`);

test('the workflow schema rejects every corpus definition with a schema-class error', () => {
  const check = ajv.getSchema(idOf('simworkflow/workflow-definition.schema.json'));
  const byFile = validateCodes('tests/workflows/invalid');
  const missed = [];
  let expected = 0;
  for (const [file, codes] of byFile) {
    if (![...codes].some((c) => EDITOR_CODES.has(c))) continue;
    expected += 1;
    if (check(JSON.parse(readFileSync(path.join(root, file), 'utf8')))) missed.push(`${file}: ${[...codes]}`);
  }
  assert.ok(expected >= 25, `${expected} cases`);
  assert.deepEqual(missed, []);
  // Exact decimals are the connector's own check: ajv (doubles) accepts 1.2345.
  assert.deepEqual([...byFile.get('tests/workflows/invalid/quantity-four-decimals.json')], ['E-DECIMALS']);
  assert.ok(check(read(path.join(root, 'tests/workflows/invalid/quantity-four-decimals.json'))));
});

test('the workflow schema accepts every valid definition and sample workflow', () => {
  const check = ajv.getSchema(idOf('simworkflow/workflow-definition.schema.json'));
  const files = [...jsonFiles('tests/workflows/valid'), ...jsonFiles('workflows')];
  assert.ok(files.length >= 15, `${files.length} files`);
  for (const file of files) {
    assert.ok(check(read(path.join(root, file))), `${file}: ${JSON.stringify(check.errors)}`);
  }
});

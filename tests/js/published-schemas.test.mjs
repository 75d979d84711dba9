// The published schemas (schemas/) in ajv with its DEFAULT options, as editors and users run it:
// draft 2020-12, strict mode on, no `multipleOfPrecision`, numbers read by JSON.parse (doubles).
// Every schema must compile, every request case of connector/tests/data/request-cases.json must
// get its verdict (cases marked `"external": false` break only the exact-decimals rule that
// external validators cannot see, so they accept them), and valid quantities with at most three
// decimals must never be rejected.
import { test } from 'node:test';
import assert from 'node:assert/strict';
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

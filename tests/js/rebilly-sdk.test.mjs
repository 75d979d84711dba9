// The sandbox driven by Rebilly's own JS SDK (rebilly-js-sdk from npm): usages.create,
// usages.getAll with pagination headers, and an over-limit conflict, each parsed by the SDK.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { RebillyAPI, RebillyErrors } from 'rebilly-js-sdk';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
// The debug binary: $USAGE_CONNECTOR_BIN, else cargo's target directory ($CARGO_TARGET_DIR, taken
// relative to the repository root, or target/).
const bin = process.env.USAGE_CONNECTOR_BIN
  || path.resolve(root, process.env.CARGO_TARGET_DIR || 'target', 'debug/usage-connector');

let sandbox;
let api;

before(async () => {
  sandbox = spawn(bin, ['sandbox'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: sandbox.stdout });
  const read = [];
  for await (const line of lines) {
    read.push(line);
    if (read.length === 5) break;
  }
  const url = read[0].replace('listening on ', '');
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
  const key = read.slice(1).map((l) => l.split(' ')).find((p) => p[4] === 'USAGES.CREATE,USAGES.VIEW,USAGES.DELETE')[2];
  api = RebillyAPI({ apiKey: key, sandbox: true, organizationId: 'org_js_sdk', urls: { live: url, sandbox: url } });
});

after(() => sandbox.kill());

test('usages.create records a usage the SDK parses', async () => {
  const usage = await api.usages.create({
    data: { subscriptionId: 'sub_unlimited', quantity: 5.125, usageTime: '2025-05-01T12:00:00Z' },
  });
  assert.equal(usage.response.status, 201);
  assert.equal(usage.fields.quantity, 5.125);
  assert.equal(usage.fields.subscriptionId, 'sub_unlimited');
  assert.match(usage.fields.id, /^sub_usg_/);
  assert.match(usage.fields._links[0].href, /\/organizations\/org_js_sdk\/usages\/sub_usg_/);
});

test('usages.getAll filters, sorts and reads the pagination headers', async () => {
  for (const t of ['2025-06-01T00:00:00Z', '2025-06-02T00:00:00Z', '2025-06-03T00:00:00Z']) {
    await api.usages.create({ data: { subscriptionId: 'sub_limit_100', quantity: 1, usageTime: t } });
  }
  const page = await api.usages.getAll({ filter: 'subscriptionId:sub_limit_100', sort: '-usageTime', limit: 2, offset: 0 });
  assert.equal(page.total, 3);
  assert.equal(page.limit, 2);
  assert.equal(page.offset, 0);
  assert.equal(page.items.length, 2);
  assert.equal(page.items[0].fields.usageTime, '2025-06-03T00:00:00Z');
  const exact = await api.usages.getAll({ filter: 'subscriptionId:sub_limit_100;usageTime:2025-06-02T00:00:00Z' });
  assert.equal(exact.total, 1);
});

test('an over-limit usage is a RebillyConflictError naming the limit', async () => {
  await assert.rejects(
    api.usages.create({ data: { subscriptionId: 'sub_near_limit', quantity: 3 } }),
    (err) => {
      assert.ok(err instanceof RebillyErrors.RebillyConflictError, err.name);
      assert.equal(err.status, 409);
      assert.match(err.message, /hard limit of 10/);
      return true;
    },
  );
  const clamped = await api.usages.create({ data: { subscriptionId: 'sub_near_limit', quantity: 3, acceptPartialQuantity: true } });
  assert.equal(clamped.fields.quantity, 2.5);
});

test('an invalid quantity is a RebillyValidationError with invalidFields', async () => {
  await assert.rejects(api.usages.create({ data: { subscriptionId: 'sub_unlimited', quantity: 1.2345 } }), (err) => {
    assert.ok(err instanceof RebillyErrors.RebillyValidationError, err.name);
    assert.equal(err.status, 422);
    assert.equal(err.invalidFields[0].field, 'quantity');
    return true;
  });
});

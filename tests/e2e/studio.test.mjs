// The studio in a real browser: Playwright (playwright-core, pinned) driving Debian's chromium
// (CHROMIUM, default /usr/bin/chromium). It starts `usage-connector studio` (STUDIO_BIN,
// default target/debug/usage-connector) on a scratch folder holding copies of two samples, and
// checks what an author relies on. Each test saves a screenshot in screenshots/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const shots = path.join(here, 'screenshots');
let studio, browser, url, base, dir;

before(async () => {
  mkdirSync(shots, { recursive: true });
  dir = mkdtempSync(path.join(tmpdir(), 'studio-e2e-'));
  for (const name of ['rebilly-create-usage.json', 'usage-with-overage.json']) {
    cpSync(path.join(root, 'workflows', name), path.join(dir, name));
  }
  // A run that fails after its write: the response has `id`, not `idd`.
  const typo = readFileSync(path.join(root, 'workflows/rebilly-create-usage.json'), 'utf8')
    .replace('"end": true', '"resultSelector": {"usageId": "${$.body.idd}"},\n      "end": true');
  writeFileSync(path.join(dir, 'selector-typo.json'), typo);
  const bin = process.env.STUDIO_BIN || path.join(root, 'target/debug/usage-connector');
  studio = spawn(bin, ['studio', dir], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, USAGE_CONNECTOR_STATE_DIR: path.join(dir, '.state') },
  });
  url = await new Promise((resolve, reject) => {
    let seen = '';
    studio.stdout.on('data', (chunk) => {
      seen += chunk;
      const line = seen.split('\n')[0];
      if (seen.includes('\n')) resolve(line.replace('listening on ', '').trim());
    });
    studio.on('exit', (code) => reject(new Error(`studio exited ${code}`)));
  });
  base = url.split('/?')[0];
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox'],
  });
});

after(async () => {
  await browser?.close();
  studio?.kill();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function open() {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  await page.goto(url);
  await page.waitForSelector('#file-list li');
  return page;
}

test('the catalog lists the five endpoints with their fields', async () => {
  const page = await open();
  await page.click('#tab-catalog');
  const endpoints = page.locator('.endpoint');
  assert.equal(await endpoints.count(), 5);
  const usage = page.locator('.endpoint[data-endpoint="rebilly.create-usage"]');
  const text = await usage.innerText();
  assert.match(text, /quantity/);
  assert.match(text, /required/);
  assert.match(text, /3 decimal places/);
  await page.screenshot({ path: path.join(shots, 'catalog.png') });
  await page.close();
});

test('a typo in a body field is underlined at its line with the hint, and fixing it clears it', async () => {
  const page = await open();
  await page.click('#file-list li:has-text("rebilly-create-usage.json")');
  await page.waitForSelector('#verdict.ok');
  const text = await page.inputValue('#editor');
  const typo = text.replace('"quantity": "${$.quantity}"', '"quantiti": "${$.quantity}"');
  assert.notEqual(typo, text);
  await page.fill('#editor', typo);
  const item = page.locator('#diagnostics li', { hasText: 'quantiti' }).first();
  await item.waitFor();
  const line = typo.split('\n').findIndex((l) => l.includes('"quantiti"')) + 1;
  assert.match(await item.innerText(), new RegExp(`E-SCHEMA ${line}:\\d+`));
  assert.match(await item.innerText(), /unknown field `quantiti`; did you mean `quantity`\?/);
  assert.match(await item.innerText(), /hint: remove the field or fix its spelling/);
  const mark = page.locator('#highlight mark').filter({ hasText: 'quantiti' });
  assert.equal(await mark.count(), 1, 'the misspelt key is underlined');
  await page.screenshot({ path: path.join(shots, 'editor-diagnostic.png') });
  await page.fill('#editor', text);
  await page.waitForSelector('#verdict.ok');
  assert.equal(await page.locator('#diagnostics li.error').count(), 0);
  await page.close();
});

test('testing the Rebilly task shows the request and a 201', async () => {
  const page = await open();
  await page.click('#file-list li:has-text("rebilly-create-usage.json")');
  await page.waitForSelector('#test-task option', { state: 'attached' });
  const input = readFileSync(path.join(root, 'workflows/examples/rebilly-create-usage.input.json'), 'utf8');
  await page.fill('#test-input', input);
  await page.click('#dry-run');
  await page.waitForSelector('#test-report h4:has-text("Request")');
  const dry = await page.innerText('#test-report');
  assert.match(dry, /input: the workflow input/);
  assert.match(dry, /\/organizations\/org_sandbox\/usages/);
  assert.doesNotMatch(dry, /sk_sandbox/, 'the key never reaches the page');
  await page.click('#send');
  await page.waitForSelector('#test-report .answer');
  const sent = await page.innerText('#test-report');
  assert.match(sent, /HTTP 201 · created/);
  assert.match(sent, /Task output/);
  await page.screenshot({ path: path.join(shots, 'test-task.png') });
  await page.close();
});

async function usages() {
  const token = new URL(url).searchParams.get('token');
  const stats = await (await fetch(`${base}/api/sandbox`, { headers: { 'x-studio-token': token } })).json();
  return stats.usages;
}

test('running usage-with-overage shows the partial quantity and the overage charge on the timeline', async () => {
  const page = await open();
  await page.click('#file-list li:has-text("usage-with-overage.json")');
  await page.waitForSelector('#verdict.ok');
  await page.click('#tab-runs');
  await page.fill('#run-input', readFileSync(path.join(root, 'workflows/examples/usage-with-overage.input.json'), 'utf8'));
  await page.click('#run-start');
  await page.waitForFunction(() => ['Completed', 'Failed'].includes(document.getElementById('run-state').textContent), null, { timeout: 30000 });
  assert.equal(await page.textContent('#run-state'), 'Completed');
  const timeline = await page.innerText('#timeline');
  assert.match(timeline, /\[Started\] Report usage/);
  assert.match(timeline, /\[Completed\] Report usage — Http, .*partial/);
  assert.match(timeline, /\[Completed\] Charge overage/);
  assert.match(await page.innerText('#run-output'), /"overageUnits": "2.5"/);
  assert.ok(await page.locator('#run-graph g[data-task="Charge overage"] rect.visited').count() === 1, 'the path taken is drawn');
  await page.screenshot({ path: path.join(shots, 'run-timeline.png'), fullPage: true });
  await page.close();
});

test('a run that failed after its write is resumed from the executions page and records its usage once', async () => {
  const page = await open();
  await page.click('#file-list li:has-text("selector-typo.json")');
  await page.waitForSelector('#verdict.ok');
  await page.click('#tab-runs');
  await page.fill('#run-input', readFileSync(path.join(root, 'workflows/examples/rebilly-create-usage.input.json'), 'utf8'));
  const before = await usages();
  await page.click('#run-start');
  await page.waitForFunction(() => ['Completed', 'Failed'].includes(document.getElementById('run-state').textContent), null, { timeout: 30000 });
  assert.equal(await page.textContent('#run-state'), 'Failed');
  assert.match(await page.innerText('#run-output'), /INPUT_MISSING/);
  assert.equal(await usages(), before + 1, 'the usage was recorded before the selector failed');
  const id = await page.textContent('#run-id');
  // The fix, in the editor; the resume takes it.
  await page.click('#tab-editor');
  await page.fill('#editor', (await page.inputValue('#editor')).replace('$.body.idd', '$.body.id'));
  await page.click('#tab-runs');
  await page.selectOption('#run-filter', 'Failed');
  await page.click(`#executions tr[data-id="${id}"]`);
  await page.waitForSelector('#run-resume:not([hidden])');
  await page.check('#resume-edited');
  await page.click('#run-resume');
  await page.waitForFunction(() => document.getElementById('run-state').textContent === 'Completed', null, { timeout: 30000 });
  assert.match(await page.innerText('#timeline'), /\[Reused\] Report usage/);
  assert.match(await page.innerText('#run-output'), /"usageId": "/);
  assert.equal(await usages(), before + 1, 'resumed: not sent again');
  await page.selectOption('#run-filter', 'Completed');
  await page.waitForSelector(`#executions tr[data-id="${id}"][data-status="Completed"]`);
  await page.close();
});

test('inside a body, the endpoint\'s missing fields are offered and one click inserts a field', async () => {
  const page = await open();
  await page.click('#file-list li:has-text("rebilly-create-usage.json")');
  await page.waitForSelector('#verdict.ok');
  const text = await page.inputValue('#editor');
  const caret = text.indexOf('"usageTime": "${$.usageTime}"') + '"usageTime": "${$.usageTime}"'.length;
  await page.evaluate((at) => {
    const editor = document.getElementById('editor');
    editor.focus();
    editor.setSelectionRange(at, at);
    editor.dispatchEvent(new Event('click'));
  }, caret);
  const offered = page.locator('#completion button', { hasText: 'acceptPartialQuantity' });
  await offered.waitFor();
  assert.equal(await page.locator('#completion button', { hasText: /^quantity$/ }).count(), 0, 'present fields are not offered');
  await offered.click();
  assert.match(await page.inputValue('#editor'), /"usageTime": "\$\{\$\.usageTime\}","acceptPartialQuantity": false/);
  await page.waitForSelector('#verdict.ok');
  await page.close();
});

test('a test input can be pinned from a recorded execution\'s step, and the page says so', async () => {
  const page = await open();
  await page.click('#file-list li:has-text("usage-with-overage.json")');
  await page.waitForSelector('#test-task option', { state: 'attached' });
  await page.focus('#test-pin');
  const option = '#test-pin option:has-text("Usage report with partial-quantity fallback")';
  await page.waitForSelector(option, { state: 'attached' });
  const id = await page.getAttribute(option, 'value');
  // The start task: the execution's workflow input, which is the input it received.
  await page.selectOption('#test-pin', id);
  await page.waitForFunction(() => document.getElementById('test-input').value.includes('sub_near_limit'));
  await page.click('#dry-run');
  await page.waitForSelector('#test-report .from');
  assert.match(await page.innerText('#test-report .from'), new RegExp(`the input this task received in the execution, pinned from execution ${id}`));
  // A later task: the very input it received in that run (the usage's answer, 2.5 over).
  await page.selectOption('#test-task', 'Charge overage');
  await page.selectOption('#test-pin', '');
  await page.selectOption('#test-pin', id);
  await page.waitForTimeout(300);
  await page.click('#dry-run');
  await page.waitForSelector('#test-report .from:has-text("received")');
  const report = await page.innerText('#test-report');
  assert.match(report, new RegExp(`the input this task received in the execution, pinned from execution ${id}`));
  assert.match(report, /"number": "2.5"/);
  await page.close();
});

test('a request without the token, from another origin or for a file outside the folder is refused', async () => {
  assert.equal((await fetch(`${base}/api/files`)).status, 401);
  assert.equal((await fetch(base + '/')).status, 401);
  const token = new URL(url).searchParams.get('token');
  const headers = { 'x-studio-token': token };
  assert.equal((await fetch(`${base}/api/files`, { headers })).status, 200);
  const cross = await fetch(`${base}/api/files`, { headers: { ...headers, origin: 'http://evil.example' } });
  assert.equal(cross.status, 403);
  const outside = await fetch(`${base}/api/file?path=${encodeURIComponent('../../etc/hosts.json')}`, { headers });
  assert.equal(outside.status, 400);
  const malformed = await fetch(`${base}/api/validate`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: '{' });
  assert.ok(malformed.status >= 400 && malformed.status < 500, `${malformed.status}`);
  const page = await browser.newPage();
  const answer = await page.goto(base + '/');
  assert.equal(answer.status(), 401);
  await page.close();
});

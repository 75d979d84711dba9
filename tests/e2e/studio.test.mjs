// The studio in a real browser: Playwright (playwright-core, pinned) driving Debian's chromium
// (CHROMIUM, default /usr/bin/chromium). It starts `usage-connector studio` (STUDIO_BIN,
// default target/debug/usage-connector) on a scratch folder holding copies of two samples, and
// checks what an author relies on. Each test saves a screenshot in screenshots/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
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
  const bin = process.env.STUDIO_BIN || path.join(root, 'target/debug/usage-connector');
  studio = spawn(bin, ['studio', dir], { stdio: ['ignore', 'pipe', 'inherit'] });
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

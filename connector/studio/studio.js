// usage-connector studio: the page. Plain ES module, no dependencies; every call goes to this
// studio's own API with its token (the header; the page's own address carries it too).
const token = new URLSearchParams(location.search).get('token') || '';
const $ = (id) => document.getElementById(id);
const state = { path: null, catalog: null, diagnostics: [], timer: null, dirty: false };

async function api(path, options = {}) {
  const headers = { 'x-studio-token': token, ...(options.body ? { 'content-type': 'application/json' } : {}) };
  const answer = await fetch(path, { ...options, headers });
  const body = await answer.json().catch(() => ({}));
  if (!answer.ok && !body.diagnostics) throw new Error(body.error || `${answer.status}`);
  return body;
}

function status(text) { $('status').textContent = text; }

function escape(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

// --- the editor: a textarea over a mirror that underlines each diagnostic's token ------------
function offsetOf(text, line, column) {
  let at = 0;
  for (let l = 1; l < line; l++) {
    const next = text.indexOf('\n', at);
    if (next < 0) return text.length;
    at = next + 1;
  }
  // Columns count characters (code points).
  const rest = Array.from(text.slice(at));
  return at + rest.slice(0, Math.max(column - 1, 0)).join('').length;
}

function tokenEnd(text, start) {
  if (text[start] === '"') {
    for (let i = start + 1; i < text.length; i++) {
      if (text[i] === '\\') { i++; continue; }
      if (text[i] === '"' || text[i] === '\n') return i + 1;
    }
  }
  const m = /^[^\s,\]}:]+/.exec(text.slice(start));
  return start + Math.max(m ? m[0].length : 1, 1);
}

function paint() {
  const text = $('editor').value;
  const marks = state.diagnostics
    .filter((d) => d.line && d.column)
    .map((d) => {
      const start = offsetOf(text, d.line, d.column);
      return { start, end: tokenEnd(text, start), kind: d.severity };
    })
    .sort((a, b) => a.start - b.start);
  let html = '';
  let at = 0;
  for (const m of marks) {
    if (m.start < at) continue;
    html += escape(text.slice(at, m.start));
    html += `<mark class="${m.kind}">${escape(text.slice(m.start, m.end))}</mark>`;
    at = m.end;
  }
  html += escape(text.slice(at)) + '\n';
  $('highlight').innerHTML = html;
  $('highlight').scrollTop = $('editor').scrollTop;
  $('highlight').scrollLeft = $('editor').scrollLeft;
}

function showDiagnostics(list) {
  state.diagnostics = list;
  const ol = $('diagnostics');
  ol.innerHTML = '';
  for (const d of list) {
    const li = document.createElement('li');
    li.className = d.severity;
    li.dataset.code = d.code;
    const at = d.line ? `${d.line}:${d.column}` : '';
    li.innerHTML = `<span class="code">${escape(d.code)}</span> <span class="at">${at}</span> ${escape(d.message)}` +
      (d.hint ? `<span class="hint">hint: ${escape(d.hint)}</span>` : '');
    li.addEventListener('click', () => {
      if (!d.line) return;
      const offset = offsetOf($('editor').value, d.line, d.column);
      $('editor').focus();
      $('editor').setSelectionRange(offset, offset);
    });
    ol.appendChild(li);
  }
  const errors = list.filter((d) => d.severity === 'error').length;
  $('verdict').textContent = errors ? `${errors} error(s)` : 'valid';
  $('verdict').className = errors ? 'bad' : 'ok';
  paint();
}

async function check() {
  const text = $('editor').value;
  const started = performance.now();
  try {
    const report = await api('/api/validate', { method: 'POST', body: JSON.stringify({ text, name: state.path || '<editor>' }) });
    if ($('editor').value !== text) return; // typed on meanwhile: the next check shows it
    showDiagnostics(report.diagnostics);
    status(`checked in ${Math.round(performance.now() - started)} ms`);
  } catch (e) { status(`check failed: ${e.message}`); }
  drawGraph(text);
  fillTasks(text);
}

function edited() {
  state.dirty = true;
  $('save').disabled = !state.path;
  paint();
  clearTimeout(state.timer);
  state.timer = setTimeout(check, 150);
}

// --- completion of body fields, from the endpoint's published request schema ----------------
function endpointOf(url) {
  const path = url.split('?')[0].replace(/^[a-z]+:\/\/[^/]+/, '');
  for (const e of (state.catalog && state.catalog.endpoints) || []) {
    // `[/organizations/{organizationId}]/usages`: an optional prefix, parameters any segment.
    const literal = (part) => part.replace(/[.*+?^$()|\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+');
    const pattern = e.path
      .split(/(\[[^\]]*\])/)
      .map((part) => (part.startsWith('[') ? `(?:${literal(part.slice(1, -1))})?` : literal(part)))
      .join('');
    if (new RegExp(`${pattern}$`).test(path)) return e;
  }
  return null;
}

// The body object the caret is in (its start), if any: the last `"body": {` still open.
function bodyAt(text, caret) {
  const before = text.slice(0, caret);
  let at = before.lastIndexOf('"body"');
  while (at >= 0) {
    const open = before.indexOf('{', at);
    if (open >= 0 && /^"body"\s*:\s*$/.test(before.slice(at, open))) {
      let depth = 0;
      let inString = false;
      for (let i = open; i < caret; i++) {
        const c = text[i];
        if (inString) { if (c === '\\') i++; else if (c === '"') inString = false; continue; }
        if (c === '"') inString = true;
        else if (c === '{') depth++;
        else if (c === '}') depth--;
      }
      if (depth === 1 && !inString) return open;
      return -1;
    }
    at = before.lastIndexOf('"body"', at - 1);
  }
  return -1;
}

function complete() {
  const box = $('completion');
  const text = $('editor').value;
  const caret = $('editor').selectionStart;
  const open = bodyAt(text, caret);
  const url = open >= 0 ? /"url"\s*:\s*"([^"]*)"[^]*$/.exec(text.slice(0, open)) : null;
  const endpoint = url ? endpointOf(url[1]) : null;
  if (!endpoint || !endpoint.request) { box.hidden = true; return; }
  // Keys already written at the body's top level.
  let depth = 0;
  let end = open;
  for (let i = open; i < text.length; i++) {
    if (text[i] === '{') depth++;
    if (text[i] === '}' && --depth === 0) { end = i; break; }
  }
  const present = new Set([...text.slice(open, end).matchAll(/"([^"]+)"\s*:/g)].map((m) => m[1]));
  const required = new Set(endpoint.request.required || []);
  const fields = Object.entries(endpoint.request.properties || {}).filter(([name]) => !present.has(name));
  box.hidden = fields.length === 0;
  box.innerHTML = `<span>${escape(endpoint.id)} fields:</span> `;
  for (const [name, schema] of fields) {
    const b = document.createElement('button');
    b.textContent = name;
    b.title = `${typeOf(schema)}${required.has(name) ? ', required' : ''}: ${(schema && schema.description) || ''}`;
    if (required.has(name)) b.className = 'required';
    b.addEventListener('mousedown', (e) => e.preventDefault());
    b.addEventListener('click', () => insertField(name, schema, caret));
    box.appendChild(b);
  }
}

function insertField(name, schema, caret) {
  const editor = $('editor');
  const text = editor.value;
  const type = typeOf(schema);
  const value = type.startsWith('number') || type.startsWith('integer') ? '0'
    : type.startsWith('boolean') ? 'false' : type.startsWith('object') ? '{}' : type.startsWith('array') ? '[]' : '""';
  const rest = text.slice(caret).trimStart();
  const comma = rest.startsWith('}') ? '' : ',';
  const before = text.slice(0, caret).trimEnd();
  const lead = before.endsWith('{') || before.endsWith(',') ? '' : ',';
  const insert = `${lead}"${name}": ${value}${comma}`;
  editor.value = text.slice(0, caret) + insert + text.slice(caret);
  editor.focus();
  editor.setSelectionRange(caret + insert.length, caret + insert.length);
  edited();
}

// --- files -----------------------------------------------------------------------------------
async function listFiles() {
  const { files } = await api('/api/files');
  const ul = $('file-list');
  ul.innerHTML = '';
  for (const f of files) {
    const li = document.createElement('li');
    li.textContent = f;
    li.className = f === state.path ? 'open' : '';
    li.addEventListener('click', () => openFile(f));
    ul.appendChild(li);
  }
}

async function openFile(path) {
  const { text } = await api(`/api/file?path=${encodeURIComponent(path)}`);
  state.path = path;
  state.dirty = false;
  $('file-name').textContent = path;
  $('editor').value = text;
  $('save').disabled = true;
  await listFiles();
  await check();
}

async function save() {
  if (!state.path) return;
  await api(`/api/file?path=${encodeURIComponent(state.path)}`, { method: 'PUT', body: JSON.stringify({ text: $('editor').value }) });
  state.dirty = false;
  $('save').disabled = true;
  status(`saved ${state.path}`);
  await listFiles();
}

async function newFile() {
  let name = $('new-name').value.trim() || 'new-definition.json';
  if (!name.endsWith('.json')) name += '.json';
  const skeleton = { name: name.replace(/\.json$/, ''), startTask: 'Done', tasks: { Done: { type: 'Terminate', terminationStatus: 'Completed' } } };
  await api(`/api/file?path=${encodeURIComponent(name)}`, { method: 'PUT', body: JSON.stringify({ text: JSON.stringify(skeleton, null, 2) + '\n' }) });
  await openFile(name);
}

// --- the graph -------------------------------------------------------------------------------
function drawGraph(text, svg = $('graph'), visited = new Set()) {
  let def;
  try { def = JSON.parse(text); } catch { svg.innerHTML = ''; return; }
  // Branch tasks join the graph: a Parallel task points at each branch's start.
  const tasks = {};
  const branchStarts = {};
  const gather = (scope) => {
    for (const [name, t] of Object.entries(scope || {})) {
      tasks[name] = t;
      const starts = ((t && t.branches) || []).map((b) => { gather(b.tasks); return b.startTask; });
      if (starts.length) branchStarts[name] = starts;
    }
  };
  gather(def && def.tasks);
  const edges = [];
  const layer = {};
  const queue = [[def.startTask, 0]];
  while (queue.length) {
    const [name, depth] = queue.shift();
    if (!(name in tasks) || name in layer) continue;
    layer[name] = depth;
    const t = tasks[name] || {};
    const next = [t.nextTask, t.defaultTask, ...((t.choices || []).map((c) => c.nextTask)), ...(branchStarts[name] || [])].filter(Boolean);
    for (const n of next) { edges.push([name, n]); queue.push([n, depth + 1]); }
  }
  Object.keys(tasks).forEach((n) => { if (!(n in layer)) layer[n] = Math.max(0, ...Object.values(layer)) + 1; });
  const rows = {};
  const pos = {};
  for (const [n, d] of Object.entries(layer)) {
    rows[d] = (rows[d] || 0) + 1;
    pos[n] = { x: 10 + (rows[d] - 1) * 170, y: 10 + d * 60 };
  }
  const height = 20 + (Math.max(0, ...Object.values(layer)) + 1) * 60;
  let out = '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto"><path d="M0,0L10,5L0,10z" fill="#8792a8"/></marker></defs>';
  for (const [a, b] of edges) {
    if (!pos[a] || !pos[b]) continue;
    out += `<line x1="${pos[a].x + 75}" y1="${pos[a].y + 30}" x2="${pos[b].x + 75}" y2="${pos[b].y}"/>`;
  }
  for (const [n, p] of Object.entries(pos)) {
    const type = (tasks[n] && tasks[n].type) || '';
    const seen = visited.has(n) ? ' visited' : '';
    out += `<g data-task="${escape(n)}"><rect class="${escape(type)}${seen}" x="${p.x}" y="${p.y}" width="150" height="30"/>` +
      `<text x="${p.x + 6}" y="${p.y + 19}">${escape(n.slice(0, 22))} · ${escape(type)}</text></g>`;
  }
  // Drawn at its own size (no zoom), scrolled when wider than the pane.
  const width = Math.max(200, 20 + 170 * Math.max(1, ...Object.values(rows)));
  svg.setAttribute('width', width);
  svg.setAttribute('height', height);
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.innerHTML = out;
}

// --- test one task ---------------------------------------------------------------------------
function fillTasks(text) {
  let def;
  try { def = JSON.parse(text); } catch { return; }
  const select = $('test-task');
  const chosen = select.value;
  const names = [];
  const walk = (tasks) => {
    for (const [name, t] of Object.entries(tasks || {})) {
      if (t && t.type === 'Http') names.push(name);
      for (const b of (t && t.branches) || []) walk(b.tasks);
    }
  };
  walk(def && def.tasks);
  select.innerHTML = names.map((n) => `<option>${escape(n)}</option>`).join('');
  if (names.includes(chosen)) select.value = chosen;
}

function parsed(id, fallback) {
  const text = $(id).value.trim();
  if (!text) return fallback;
  return JSON.parse(text);
}

async function test(dryRun) {
  const report = $('test-report');
  report.textContent = dryRun ? 'preparing…' : 'sending…';
  let body;
  try {
    // An empty box gives no workflow input (it is checked against inputSchema only when given).
    body = { text: $('editor').value, task: $('test-task').value, input: parsed('test-input', undefined), stateInput: parsed('test-state', undefined), dryRun };
    if (state.pinned && state.pinned.task === body.task) body.taskInput = state.pinned.input;
    state.pinnedFrom = $('test-pin').value;
  } catch (e) { report.textContent = `input is not JSON: ${e.message}`; return; }
  try {
    const r = await api('/api/test', { method: 'POST', body: JSON.stringify(body) });
    const part = (title, value) => value === undefined || value === null ? '' : `<h4>${title}</h4><pre>${escape(JSON.stringify(value, null, 2))}</pre>`;
    const attempts = r.result && r.result.attempts ? r.result.attempts : [];
    report.innerHTML =
      (r.inputFrom ? `<p class="from">input: ${escape(r.inputFrom)}${state.pinnedFrom ? `, pinned from execution ${escape(state.pinnedFrom)}` : ''}</p>` : '') +
      (typeof r.error === 'string' ? `<p class="failed">${escape(r.error)}</p>` : '') +
      (r.error && typeof r.error === 'object' ? `<p class="failed">${escape(r.error.code || '')}: ${escape(r.error.message || JSON.stringify(r.error))}</p>` : '') +
      (r.result ? `<p class="answer">HTTP ${r.result.statusCode} · ${escape(r.result.outcome || '')} · ${attempts.length} attempt(s)</p>` : '') +
      part('Request', r.request) + part('Attempts', attempts.length ? attempts : undefined) +
      part('Retries (the rule that set each wait)', r.retries && r.retries.length ? r.retries : undefined) +
      part('Response body', r.result && r.result.body) + part('Task output', r.output) +
      (r.diagnostics || []).map((d) => `<p class="failed">${escape(d.code)}: ${escape(d.message)}${d.hint ? ` <span class="hint">(${escape(d.hint)})</span>` : ''}</p>`).join('');
  } catch (e) { report.textContent = `failed: ${e.message}`; }
}

// --- the catalog -----------------------------------------------------------------------------
function constraints(schema) {
  const keys = ['pattern', 'minLength', 'maxLength', 'minimum', 'maximum', 'minItems', 'maxItems', 'format', 'enum', 'const'];
  const out = keys.filter((k) => schema && schema[k] !== undefined).map((k) => `${k}: ${JSON.stringify(schema[k])}`);
  if (schema && schema.$comment) out.push(schema.$comment);
  return out.join('; ');
}

function typeOf(schema) {
  if (!schema) return '';
  if (schema.type) return [].concat(schema.type).join(' | ');
  const alt = schema.anyOf || schema.oneOf;
  if (alt) return alt.map(typeOf).filter(Boolean).join(' | ');
  if (schema.$ref) return schema.$ref.split('/').pop();
  return '';
}

function example(endpoint) {
  const schema = endpoint.request || {};
  const body = {};
  for (const field of schema.required || []) body[field] = `\${$.${field}}`;
  return body;
}

function insertTask(endpoint) {
  let def;
  try { def = JSON.parse($('editor').value); } catch { def = null; }
  if (!def || typeof def !== 'object') def = { name: 'new', startTask: '', tasks: {} };
  def.tasks = def.tasks || {};
  let name = endpoint.title.replace(/[^A-Za-z0-9 ]/g, '').slice(0, 60) || 'Call';
  for (let i = 2; name in def.tasks; i++) name = `${name.replace(/ \d+$/, '')} ${i}`;
  def.tasks[name] = {
    type: 'Http', credentials: endpoint.credentials,
    httpRequest: { url: endpoint.url, method: endpoint.method, body: example(endpoint) },
    end: true,
  };
  if (!def.startTask) def.startTask = name;
  $('editor').value = JSON.stringify(def, null, 2) + '\n';
  showView('editor');
  edited();
}

function renderCatalog() {
  const root = $('catalog');
  root.innerHTML = '';
  for (const e of state.catalog.endpoints) {
    const div = document.createElement('div');
    div.className = 'endpoint';
    div.dataset.endpoint = e.id;
    const props = (e.request && e.request.properties) || {};
    const required = new Set((e.request && e.request.required) || []);
    const rows = Object.entries(props).map(([name, s]) =>
      `<tr><td><code>${escape(name)}</code></td><td>${escape(typeOf(s))}</td><td>${required.has(name) ? 'required' : ''}</td>` +
      `<td>${escape(constraints(s))}</td><td>${escape((s && s.description) || '')}</td></tr>`).join('');
    div.innerHTML = `<h3>${escape(e.title)} <small>(${escape(e.id)})</small></h3>` +
      `<p><span class="method">${escape(e.method)}</span> <code>${escape(e.path)}</code> · credentials <code>${escape(e.credentials)}</code> (${escape(e.keyHeader)})</p>` +
      `<p>${escape((e.request && e.request.description) || '')}</p>` +
      `<table><thead><tr><th>field</th><th>type</th><th></th><th>constraints</th><th>description</th></tr></thead><tbody>${rows}</tbody></table>` +
      `<h4>Example body</h4><pre>${escape(JSON.stringify(example(e), null, 2))}</pre>`;
    const button = document.createElement('button');
    button.textContent = 'New Http task from this endpoint';
    button.addEventListener('click', () => insertTask(e));
    div.appendChild(button);
    root.appendChild(div);
  }
}

// --- runs, their timelines and the executions -------------------------------------------------
const run = { id: null, timer: null, definition: null };

function describe(e) {
  if (e.status === 'Retry') {
    const what = e.answer ? `HTTP ${e.answer}` : (e.error || 'no answer');
    return `attempt ${e.attempt}: ${what}; next in ${(e.delayMs / 1000).toFixed(1)} s (${e.rule})`;
  }
  const parts = [];
  if (e.kind) parts.push(e.kind);
  if (e.status !== 'Started' && e.durationMs !== undefined) parts.push(`${e.durationMs} ms`);
  if (e.attempts) parts.push(`${e.attempts} attempt(s)`);
  if (e.detail) parts.push(e.detail);
  return parts.join(', ');
}

function showRun(view) {
  $('run-id').textContent = view.id || run.id || '';
  $('run-state').textContent = view.status;
  const ol = $('timeline');
  ol.innerHTML = '';
  const events = view.events && view.events.length ? view.events
    : Object.entries(view.tasks || {}).map(([task, t]) => ({ task, status: t.output ? 'Recorded' : 'Begun', detail: t.output && t.output.outcome }));
  for (const e of events) {
    const li = document.createElement('li');
    li.className = e.status;
    li.dataset.task = e.task;
    li.textContent = `${e.atMs !== undefined ? `+${e.atMs} ms ` : ''}[${e.status}] ${e.task}${describe(e) ? ' — ' + describe(e) : ''}`;
    ol.appendChild(li);
  }
  const visited = new Set(events.filter((e) => ['Completed', 'Reused', 'Recorded', 'Failed'].includes(e.status)).map((e) => e.task));
  const definition = view.definition ? JSON.stringify(view.definition) : run.definition;
  if (definition) drawGraph(definition, $('run-graph'), visited);
  $('run-output').textContent = view.output ? JSON.stringify(view.output, null, 2) : '';
  // Each task's output as recorded, and its input when this studio watched the run.
  const inputs = view.inputs || {};
  const tasks = Object.entries(view.tasks || {}).filter(([, t]) => t.output);
  $('run-tasks').innerHTML = tasks.map(([task, t]) =>
    `<details data-task="${escape(task)}"><summary>${escape(task)}: ${escape(String(t.output.outcome || 'recorded'))}</summary>` +
    (task in inputs ? `<h5>input</h5><pre>${escape(JSON.stringify(inputs[task], null, 2))}</pre>` : '') +
    `<h5>output</h5><pre>${escape(JSON.stringify(t.output, null, 2))}</pre></details>`).join('');
  $('run-resume').hidden = !['Failed', 'Interrupted'].includes(view.status);
}

async function follow(id) {
  clearTimeout(run.timer);
  run.id = id;
  const view = await api(`/api/runs/${encodeURIComponent(id)}`);
  showRun(view);
  if (view.status === 'Running') run.timer = setTimeout(() => follow(id), 250);
  else listRuns();
}

async function startRun() {
  let input;
  try { input = parsed('run-input', {}); } catch (e) { $('run-state').textContent = `input is not JSON: ${e.message}`; return; }
  const body = state.path && !state.dirty ? { path: state.path, input } : { text: $('editor').value, input };
  run.definition = $('editor').value;
  $('timeline').innerHTML = '';
  $('run-output').textContent = '';
  const answer = await fetch('/api/runs', { method: 'POST', headers: { 'x-studio-token': token, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const r = await answer.json();
  if (!answer.ok) {
    $('run-state').textContent = r.error || `${answer.status}`;
    $('run-output').textContent = r.diagnostics ? r.diagnostics.map((d) => `${d.code} ${d.line || ''}:${d.column || ''} ${d.message}`).join('\n') : '';
    return;
  }
  await follow(r.id);
}

async function resumeRun() {
  if (!run.id) return;
  const body = $('resume-edited').checked ? { text: $('editor').value } : {};
  const answer = await fetch(`/api/runs/${encodeURIComponent(run.id)}/resume`, { method: 'POST', headers: { 'x-studio-token': token, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const r = await answer.json();
  if (!answer.ok) { $('run-state').textContent = r.error || `${answer.status}`; return; }
  await follow(run.id);
}

async function listRuns() {
  const { runs } = await api('/api/runs');
  const filter = $('run-filter').value;
  const body = $('executions').querySelector('tbody');
  body.innerHTML = '';
  for (const r of runs.filter((r) => !filter || r.status === filter)) {
    const tr = document.createElement('tr');
    tr.dataset.id = r.id;
    tr.dataset.status = r.status;
    const duration = r.started && r.ended ? `${((Date.parse(r.ended) - Date.parse(r.started)) / 1000).toFixed(1)} s` : '';
    tr.innerHTML = `<td>${escape(r.id)}</td><td>${escape(String(r.definition || ''))}</td><td>${escape(r.status)}</td>` +
      `<td>${escape((r.started || '').replace('T', ' ').slice(0, 19))}</td><td>${duration}</td><td>${r.sequenceNumber ?? ''}</td>`;
    tr.addEventListener('click', () => follow(r.id));
    body.appendChild(tr);
  }
}

// The workflow input of a recorded execution, pinned into the test panel.
async function pinnable() {
  const { runs } = await api('/api/runs');
  const select = $('test-pin');
  const chosen = select.value;
  select.innerHTML = '<option value="">(typed in)</option>' +
    runs.map((r) => `<option value="${escape(r.id)}">${escape(r.id)} · ${escape(String(r.definition || ''))} · ${escape(r.status)}</option>`).join('');
  select.value = chosen;
}

// The execution's workflow input, and the input the chosen task received in it (when the run
// was watched here: journals keep no inputs).
async function pin() {
  const id = $('test-pin').value;
  state.pinned = null;
  if (!id) return;
  const view = await api(`/api/runs/${encodeURIComponent(id)}`);
  $('test-input').value = JSON.stringify(view.input, null, 2);
  const task = $('test-task').value;
  if (view.inputs && task in view.inputs) state.pinned = { task, input: view.inputs[task] };
}

async function sandboxStats() {
  try { $('sandbox-view').textContent = JSON.stringify(await api('/api/sandbox'), null, 2); }
  catch (e) { $('sandbox-view').textContent = e.message; }
}

function showView(view) {
  if (view === 'runs') listRuns();
  for (const v of ['editor', 'runs', 'catalog']) {
    $(`view-${v}`).hidden = v !== view;
    $(`tab-${v}`).classList.toggle('active', v === view);
  }
}

async function start() {
  document.querySelectorAll('.tab').forEach((b) => b.addEventListener('click', () => showView(b.dataset.view)));
  $('editor').addEventListener('input', edited);
  for (const ev of ['click', 'keyup', 'input']) $('editor').addEventListener(ev, complete);
  $('editor').addEventListener('scroll', paint);
  $('save').addEventListener('click', save);
  $('new-file').addEventListener('click', newFile);
  $('dry-run').addEventListener('click', () => test(true));
  $('send').addEventListener('click', () => test(false));
  $('run-start').addEventListener('click', startRun);
  $('test-pin').addEventListener('focus', pinnable);
  $('test-pin').addEventListener('change', pin);
  $('run-resume').addEventListener('click', resumeRun);
  $('run-filter').addEventListener('change', listRuns);
  $('sandbox-stats').addEventListener('click', sandboxStats);
  try {
    state.catalog = await api('/api/catalog');
    renderCatalog();
    await listFiles();
    status(state.catalog.sandbox ? `embedded sandbox ${state.catalog.sandbox}` : 'your servers');
  } catch (e) { status(`cannot reach the studio: ${e.message}`); }
}

start();

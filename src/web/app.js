// smimepub helpdesk page: every action is a call to the server's own API (SPEC section 8),
// every text from a certificate, a message or the directory goes into the page as text
// (textContent, never parsed as HTML), and the CSRF token lives in this script's memory only.
'use strict';

let csrf = null;

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('data-')) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : String(c));
  }
  return e;
}

async function api(method, path, body, isJson) {
  const headers = {};
  if (method !== 'GET' && csrf) headers['X-CSRF-Token'] = csrf;
  if (isJson) headers['Content-Type'] = 'application/json';
  const res = await fetch(path, {
    method, headers, credentials: 'same-origin', cache: 'no-store',
    body: body === undefined ? undefined : (isJson ? JSON.stringify(body) : body),
  });
  let data = null;
  try { data = await res.json(); } catch (e) { data = null; }
  if (res.status === 401 && path !== '/api/session') showLogin('Your session ended: log in again.');
  return { status: res.status, data };
}

function errorText(r) {
  return (r.data && r.data.message) ? r.data.message : 'the server answered ' + r.status;
}

function severityClass(s) {
  return s === 'critical' ? 'critical' : s === 'warning' ? 'warning' : 'ok';
}

function problemsList(problems) {
  if (!problems || problems.length === 0) return el('p', { class: 'ok' }, 'No problems.');
  return el('ul', { class: 'problems' }, ...problems.map((p) =>
    el('li', { class: severityClass(p.severity) },
      el('strong', {}, p.code), ' (', p.severity, '): ', p.message || '')));
}

function certFields(r) {
  const rows = [];
  const add = (k, v) => { if (v !== undefined && v !== null && v !== '') rows.push(el('tr', {}, el('th', {}, k), el('td', { 'data-field': k }, v))); };
  add('subject', r.subject);
  add('issuer', r.issuer);
  add('addresses', (r.emails || []).join(', '));
  add('valid', r.not_before && r.not_after ? r.not_before + ' to ' + r.not_after : '');
  add('key', r.key ? r.key.type + ' ' + r.key.bits : '');
  add('SHA-256', r.sha256);
  return el('table', {}, el('tbody', {}, ...rows));
}

function showLogin(message) {
  csrf = null;
  $('app').hidden = true;
  $('who').hidden = true;
  $('login-view').hidden = false;
  $('login-error').textContent = message || '';
}

function showApp(user, token) {
  csrf = token;
  $('who-name').textContent = user;
  $('who').hidden = false;
  $('login-view').hidden = true;
  $('app').hidden = false;
}

function showView(name) {
  for (const s of document.querySelectorAll('.view')) s.hidden = s.id !== 'view-' + name;
  for (const b of document.querySelectorAll('nav button')) b.classList.toggle('current', b.dataset.view === name);
}

// ---- lookup --------------------------------------------------------------------------------

function lookupCard(r) {
  if (r.type === 'certificate') {
    const picked = (r.clients || []).length ? 'taken by ' + r.clients.join(', ') : 'taken by no client';
    return el('div', { class: 'card value', 'data-sha256': r.sha256 || '' },
      el('h3', { class: r.usable ? 'ok' : 'critical' },
        (r.attribute || 'value') + ' ' + r.index + ': ' + (r.usable ? 'usable' : 'not usable') + ', ' + picked),
      el('p', {}, r.message || ''), certFields(r), problemsList(r.problems));
  }
  return el('div', { class: 'card verdict ' + severityClass(r.severity) },
    el('h3', { class: severityClass(r.severity) }, r.dn ? r.dn : r.address),
    el('p', { class: 'message' }, r.message || ''),
    r.encrypted_by ? el('p', {}, 'Can encrypt: ' + (r.encrypted_by.length ? r.encrypted_by.join(', ') : 'no client')) : null,
    problemsList(r.problems));
}

async function lookup(ev) {
  ev.preventDefault();
  const out = $('lookup-result');
  out.replaceChildren(el('p', {}, 'Looking up...'));
  const r = await api('GET', '/api/lookup?address=' + encodeURIComponent($('lookup-address').value));
  if (r.status !== 200) { out.replaceChildren(el('p', { class: 'error' }, errorText(r))); return; }
  out.replaceChildren(...(r.data.results.length ? r.data.results.map(lookupCard)
    : [el('p', {}, 'Nothing found.')]));
}

// ---- check and publish: the file or the pasted text ----------------------------------------

async function inputBody(fileId, pasteId) {
  const f = $(fileId).files[0];
  if (f) return await f.arrayBuffer();
  const t = $(pasteId).value.trim();
  return t ? new TextEncoder().encode(t + '\n') : null;
}

function inspectCard(r) {
  return el('div', { class: 'card inspected' },
    el('h3', {}, r.subject || r.file || 'input'),
    r.message ? el('p', {}, r.message) : null, certFields(r), problemsList(r.problems));
}

async function check(ev) {
  ev.preventDefault();
  const out = $('check-result');
  const body = await inputBody('check-file', 'check-paste');
  if (!body) { out.replaceChildren(el('p', { class: 'error' }, 'Choose a file or paste one.')); return; }
  const r = await api('POST', '/api/inspect', body);
  if (r.status !== 200) { out.replaceChildren(el('p', { class: 'error' }, errorText(r))); return; }
  out.replaceChildren(...r.data.results.map(inspectCard));
}

let pending = null;  // the upload the preview showed, for the confirmation

function publishQuery(dry) {
  const mode = document.querySelector('input[name=mode]:checked').value;
  let q = '?dry_run=' + (dry ? 1 : 0);
  if (mode) q += '&' + mode + '=1';
  if (!dry && $('publish-force').checked) q += '&force=1';
  return q;
}

function actionCard(r) {
  return el('div', { class: 'card action', 'data-action': r.action || '' },
    el('h3', { class: r.action === 'failed' ? 'critical' : (r.action === 'skipped' ? 'warning' : 'ok') },
      (r.action || '') + (r.dn ? ': ' + r.dn : '')),
    r.message ? el('p', { class: 'message' }, r.message) : null,
    r.subject ? certFields(r) : null,
    r.problems ? problemsList(r.problems) : null,
    r.ldif ? el('details', { open: true }, el('summary', {}, 'The exact change (LDIF)'), el('pre', { class: 'ldif' }, r.ldif)) : null);
}

async function previewPublish(ev) {
  ev.preventDefault();
  $('publish-result').replaceChildren();
  $('publish-confirm-row').hidden = true;
  pending = await inputBody('publish-file', 'publish-paste');
  if (!pending) { $('publish-plan').replaceChildren(el('p', { class: 'error' }, 'Choose a file or paste one.')); return; }
  const r = await api('POST', '/api/publish' + publishQuery(true), pending);
  if (r.status !== 200) { $('publish-plan').replaceChildren(el('p', { class: 'error' }, errorText(r))); return; }
  $('publish-plan').replaceChildren(...r.data.results.map(actionCard));
  const critical = r.data.results.some((x) => (x.problems || []).some((p) => p.severity === 'critical'));
  const would = r.data.results.some((x) => x.action && x.action.startsWith('would'));
  $('publish-force').checked = false;
  $('publish-force-label').hidden = !critical;
  $('publish-confirm-row').hidden = !(would || critical);
}

async function confirmPublish() {
  if (!pending) return;
  const r = await api('POST', '/api/publish' + publishQuery(false), pending);
  $('publish-confirm-row').hidden = true;
  if (r.status !== 200) { $('publish-result').replaceChildren(el('p', { class: 'error' }, errorText(r))); return; }
  $('publish-result').replaceChildren(...r.data.results.map(actionCard));
  pending = null;
}

// ---- remove ---------------------------------------------------------------------------------

function removeBody() {
  return { address: $('remove-address').value.trim(), fingerprint: $('remove-fingerprint').value.trim() };
}

async function previewRemove(ev) {
  ev.preventDefault();
  $('remove-result').replaceChildren();
  const r = await api('POST', '/api/remove?dry_run=1', removeBody(), true);
  if (r.status !== 200) { $('remove-plan').replaceChildren(el('p', { class: 'error' }, errorText(r))); return; }
  $('remove-plan').replaceChildren(...r.data.results.map(actionCard));
  $('remove-confirm-row').hidden = !r.data.results.some((x) => x.action && x.action.startsWith('would'));
}

async function confirmRemove() {
  const r = await api('POST', '/api/remove', removeBody(), true);
  $('remove-confirm-row').hidden = true;
  if (r.status !== 200) { $('remove-result').replaceChildren(el('p', { class: 'error' }, errorText(r))); return; }
  $('remove-result').replaceChildren(...r.data.results.map(actionCard));
}

// ---- audit ----------------------------------------------------------------------------------

const SVG = 'http://www.w3.org/2000/svg';

function svg(tag, attrs, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

function chart(months) {
  const w = 36, gap = 8, h = 140, top = 20, base = top + h;
  const max = Math.max(1, ...months.map((m) => m.count));
  const s = svg('svg', { class: 'chart', viewBox: '0 0 ' + (months.length * (w + gap) + gap) + ' ' + (base + 30), role: 'img' });
  s.append(svg('title', {}, 'Certificates expiring per month'));
  months.forEach((m, k) => {
    const bh = Math.round(m.count * h / max), x = gap + k * (w + gap);
    const g = svg('g', { class: 'month', 'data-month': m.month, 'data-count': m.count });
    g.append(svg('rect', { class: 'bar', x, y: base - bh, width: w, height: bh }),
      svg('text', { x: x + w / 2, y: base - bh - 4 }, m.count),
      svg('text', { x: x + w / 2, y: base + 14 }, m.month));
    s.append(g);
  });
  return s;
}

async function runAudit() {
  $('audit-summary').replaceChildren(el('p', {}, 'Auditing...'));
  const r = await api('GET', '/api/audit?limit=200');
  if (r.status !== 200) { $('audit-summary').replaceChildren(el('p', { class: 'error' }, errorText(r))); return; }
  const s = r.data.summary;
  $('audit-summary').replaceChildren(el('p', { class: severityClass(s.status), id: 'audit-status' }, s.message || s.status));
  $('audit-chart').replaceChildren(chart(r.data.expiry));
  const codes = Object.entries(s.counts || {}).sort((a, b) => b[1] - a[1]);
  $('audit-codes').replaceChildren(codes.length ? el('table', { id: 'audit-codes-table' },
    el('thead', {}, el('tr', {}, el('th', {}, 'finding'), el('th', {}, 'how many'))),
    el('tbody', {}, ...codes.map(([code, n]) => el('tr', {}, el('td', {}, code), el('td', {}, n))))) : null);
  const rows = r.data.findings.map((f) => el('tr', {},
    el('td', {}, f.dn || f.url || ''), el('td', {}, f.subject || ''),
    el('td', {}, (f.problems || []).map((p) => p.code).join(', ')),
    el('td', {}, (f.problems || []).map((p) => p.message).join(' '))));
  $('audit-findings').replaceChildren(rows.length ? el('table', { id: 'audit-table' },
    el('thead', {}, el('tr', {}, el('th', {}, 'entry'), el('th', {}, 'subject'), el('th', {}, 'problems'), el('th', {}, 'what to do'))),
    el('tbody', {}, ...rows)) : el('p', {}, 'No findings.'),
  r.data.total > rows.length ? el('p', {}, '... and ' + (r.data.total - rows.length) + ' more.') : null);
}

// ---- my changes -----------------------------------------------------------------------------

async function journal() {
  const out = $('journal-result');
  const r = await api('GET', '/api/journal?limit=50');
  if (r.status !== 200) { out.replaceChildren(el('p', { class: 'error' }, errorText(r))); return; }
  if (!r.data.results.length) { out.replaceChildren(el('p', {}, 'No changes yet.')); return; }
  out.replaceChildren(el('table', { id: 'journal-table' }, el('tbody', {}, ...r.data.results.map((x) => {
    const undo = el('button', { type: 'button', class: 'undo', 'data-record': x.record }, 'Undo');
    undo.disabled = x.action !== 'record';
    undo.addEventListener('click', async () => {
      if (!window.confirm('Undo this change to ' + (x.dn || '') + '?')) return;
      const u = await api('POST', '/api/undo', { record: x.record }, true);
      $('journal-status').replaceChildren(el('span', { class: u.status === 200 ? 'ok undo-result' : 'error undo-result' },
        u.status === 200 ? u.data.results.map((y) => y.action + (y.message ? ': ' + y.message : '')).join('; ') : errorText(u)));
      await journal();
    });
    return el('tr', {}, el('td', {}, x.record_time || ''), el('td', {}, x.command || ''),
      el('td', {}, x.dn || ''), el('td', {}, x.action || ''), el('td', {}, undo));
  }))));
}

// ---- start ----------------------------------------------------------------------------------

async function login(ev) {
  ev.preventDefault();
  const r = await api('POST', '/api/session', { user: $('login-user').value, password: $('login-password').value }, true);
  $('login-password').value = '';
  if (r.status !== 200) { $('login-error').textContent = errorText(r); return; }
  showApp(r.data.user, r.data.csrf);
}

async function logout() {
  await api('DELETE', '/api/session');
  showLogin('Logged out.');
}

document.addEventListener('DOMContentLoaded', async () => {
  $('login-form').addEventListener('submit', login);
  $('logout').addEventListener('click', logout);
  $('lookup-form').addEventListener('submit', lookup);
  $('check-form').addEventListener('submit', check);
  $('publish-form').addEventListener('submit', previewPublish);
  $('publish-confirm').addEventListener('click', confirmPublish);
  $('remove-form').addEventListener('submit', previewRemove);
  $('remove-confirm').addEventListener('click', confirmRemove);
  $('audit-run').addEventListener('click', runAudit);
  $('journal-refresh').addEventListener('click', journal);
  for (const b of document.querySelectorAll('nav button')) {
    b.addEventListener('click', () => { showView(b.dataset.view); if (b.dataset.view === 'journal') journal(); });
  }
  const r = await api('GET', '/api/session');
  if (r.status === 200 && r.data.user) showApp(r.data.user, r.data.csrf); else showLogin('');
});

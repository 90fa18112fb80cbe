/* The mapek inspection page: plain browser JavaScript, no framework, no build step.
 * Every piece of text reaches the DOM through textContent or setAttribute (never innerHTML):
 * labels come from alerts, and alerts are attacker-controlled. */
/* global document, window, location, fetch, setInterval, setTimeout, clearTimeout, URLSearchParams */
'use strict';

const REFRESH_MS = 3000;
const SVG_NS = 'http://www.w3.org/2000/svg';

const ui = {
  selectedId: null,
  cursors: [], // the cursor of each older page visited; empty: the newest page
  nextCursor: null,
  listKey: '',
  detailKey: '',
  charts: new Map(),
  decide: null, // { action, decision } while the dialog is open
  busy: false,
  bannerTimer: null,
};

// ---------- DOM helpers (text only) ----------

function el(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

function sv(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

function build(node, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'on') for (const [ev, fn] of Object.entries(v)) node.addEventListener(ev, fn);
    else if (k === 'text') node.textContent = String(v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(node, c);
    else if (typeof c === 'object' && 'nodeType' in c) node.appendChild(c);
    else node.appendChild(document.createTextNode(String(c)));
  }
}

function $(id) {
  return document.getElementById(id);
}

function replaceChildren(node, ...children) {
  node.textContent = '';
  append(node, children);
}

// ---------- formatting ----------

function fmtDuration(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

function fmtTime(iso) {
  if (!iso) return '—';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return String(iso);
  return new Date(t).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

function relTime(iso) {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return '';
  const d = t - Date.now();
  return d >= 0 ? `in ${fmtDuration(d)}` : `${fmtDuration(-d)} ago`;
}

function time(iso) {
  return el('time', { datetime: iso || '', title: iso || '' }, fmtTime(iso), iso ? el('span', { class: 'muted' }, ` (${relTime(iso)})`) : null);
}

function subjectOf(labels) {
  return Object.entries(labels || {})
    .filter(([k]) => k !== 'alertname')
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
}

function short(v) {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

function badge(text, kind) {
  return el('span', { class: `badge b-${String(kind || text).replace(/[^a-z_]/gi, '')}` }, text);
}

/** A key/value list of a plain object; nested values as compact JSON. */
function kv(obj, opts = {}) {
  if (obj === null || obj === undefined) return el('span', { class: 'muted' }, '—');
  if (typeof obj !== 'object' || Array.isArray(obj)) return el('code', {}, short(obj));
  const entries = Object.entries(obj).filter(([k]) => !(opts.skip || []).includes(k));
  if (!entries.length) return el('span', { class: 'muted' }, opts.empty || '—');
  return el(
    'dl',
    { class: 'kv' },
    entries.map(([k, v]) => [el('dt', {}, k), el('dd', {}, el('code', { class: /value|threshold|observed|limit|budget|rate|burn|score/i.test(k) ? 'num' : '' }, short(v)))]),
  );
}

function jsonDetails(summary, value) {
  if (value === null || value === undefined) return null;
  return el('details', {}, el('summary', {}, summary), el('pre', {}, JSON.stringify(value, null, 2)));
}

// ---------- API ----------

function parseJson(text) {
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return null;
  }
}

async function api(path, opts = {}) {
  const init = { credentials: 'same-origin', headers: { accept: 'application/json' } };
  if (opts.body !== undefined) {
    init.method = 'POST';
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(opts.body);
  }
  const res = await fetch(path, init);
  const text = await res.text();
  const body = parseJson(text);
  if (!res.ok) {
    const why = body && typeof body.error === 'string' ? body.error : text || res.statusText;
    const err = new Error(`${res.status} ${res.statusText}: ${why}`);
    err.status = res.status;
    throw err;
  }
  return body;
}

function banner(text, kind = 'info', ms = 6000) {
  const b = $('banner');
  b.className = `banner ${kind}`;
  b.textContent = text;
  b.hidden = false;
  clearTimeout(ui.bannerTimer);
  if (ms) ui.bannerTimer = setTimeout(() => (b.hidden = true), ms);
}

// ---------- loop (pause / resume) ----------

async function refreshLoop() {
  const { pause } = await api('/api/loop');
  const s = $('loop-state');
  if (pause.paused) {
    const until = pause.until ? `until ${fmtTime(pause.until)} (${relTime(pause.until)})` : 'until resumed';
    const who = pause.by ? ` by ${pause.by}` : '';
    const why = pause.reason ? ` — ${pause.reason}` : '';
    s.textContent = `loop paused ${until}${who}${why}`;
    s.className = 'pill paused';
    s.dataset.paused = 'true';
  } else {
    s.textContent = pause.expired ? `loop running (a pause expired at ${fmtTime(pause.expired)})` : 'loop running';
    s.className = 'pill running';
    s.dataset.paused = 'false';
  }
  $('resume').disabled = !pause.paused;
}

async function pauseLoop(ev) {
  ev.preventDefault();
  const body = { for: $('pause-for').value.trim() || undefined };
  const reason = $('pause-reason').value.trim();
  if (reason) body.reason = reason;
  try {
    await api('/api/loop/pause', { body });
    banner(`loop paused${body.for ? ` for ${body.for}` : ''}`);
  } catch (err) {
    banner(`pause failed: ${err.message}`, 'error', 0);
  }
  await refreshLoop().catch(() => {});
}

async function resumeLoop() {
  try {
    await api('/api/loop/resume', { body: {} });
    banner('loop resumed');
  } catch (err) {
    banner(`resume failed: ${err.message}`, 'error', 0);
  }
  await refreshLoop().catch(() => {});
}

// ---------- incident list ----------

function listQuery() {
  const q = new URLSearchParams();
  const state = $('state-filter').value;
  if (state) q.set('state', state);
  const label = $('label-filter').value.trim();
  if (label && label.indexOf('=') > 0) q.set('label', label);
  const cursor = ui.cursors[ui.cursors.length - 1];
  if (cursor) q.set('cursor', cursor);
  const s = q.toString();
  return `/api/incidents${s ? `?${s}` : ''}`;
}

async function refreshList() {
  const page = await api(listQuery());
  ui.nextCursor = page.next;
  $('older').hidden = !page.next;
  $('newer').hidden = ui.cursors.length === 0;
  $('refreshed').textContent = `refreshed ${new Date().toISOString().slice(11, 19)}Z`;
  const key = JSON.stringify([page.items, ui.selectedId]);
  if (key === ui.listKey) {
    // Unchanged: only the ages move (re-rendering would swallow a click in progress).
    for (const td of $('incident-rows').querySelectorAll('td.age')) td.textContent = fmtDuration(Date.now() - Date.parse(td.title));
    return;
  }
  ui.listKey = key;
  const rows = page.items.map((inc) =>
    el(
      'tr',
      {
        class: `incident${inc.id === ui.selectedId ? ' selected' : ''}`,
        'data-id': inc.id,
        tabindex: '0',
        on: {
          click: () => select(inc.id),
          keydown: (e) => {
            if (e.key === 'Enter') select(inc.id);
          },
        },
      },
      el('td', {}, badge(inc.state, inc.state)),
      el(
        'td',
        {},
        el('a', { class: 'subject', href: `#/incident/${encodeURIComponent(inc.id)}` }, subjectOf(inc.labels) || '(no subject)'),
        el('div', { class: 'alertname muted' }, inc.labels.alertname || inc.playbook),
      ),
      el('td', { class: 'age', title: inc.createdAt }, fmtDuration(Date.now() - Date.parse(inc.createdAt))),
    ),
  );
  replaceChildren($('incident-rows'), rows.length ? rows : el('tr', {}, el('td', { colspan: '3', class: 'muted' }, 'no incidents')));
}

function select(id) {
  location.hash = `#/incident/${encodeURIComponent(id)}`;
}

// ---------- statechart ----------

async function chartOf(machine) {
  if (!ui.charts.has(machine)) ui.charts.set(machine, await api(`/api/machines/${encodeURIComponent(machine)}`));
  return ui.charts.get(machine);
}

function transitionLabel(t) {
  return `${t.event}${t.guard ? ` [${t.guard}]` : ''}`;
}

/**
 * A layered drawing: the states as boxes in a row (definition order), a lifeline under each, and
 * each transition on its own lane as an arrow between the lifelines, labelled with event [guard].
 */
function drawChart(chart, plan) {
  const states = chart.states.map((s) => s.name);
  const col = new Map(states.map((n, i) => [n, i]));
  const own = chart.transitions.filter((t) => t.from !== '*' && col.has(t.from) && col.has(t.to));
  const taken = new Set((plan.history || []).map((h) => `${h.from}|${h.to}|${h.event && h.event.type}`));
  const visited = new Set((plan.history || []).flatMap((h) => [h.from, h.to]));
  const colW = 168;
  const boxW = 136;
  const boxH = 36;
  const left = 30;
  const top = 12;
  const laneH = 28;
  const lane0 = top + boxH + 30;
  const width = left + states.length * colW + 120;
  const height = lane0 + own.length * laneH + 10;
  const cx = (name) => left + col.get(name) * colW + boxW / 2;

  const svg = sv('svg', { class: 'chart', viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', 'aria-label': `statechart ${chart.id}, current state ${plan.state}` });
  svg.appendChild(
    sv('defs', {}, [
      sv('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: '9', refY: '5', markerWidth: '9', markerHeight: '9', markerUnits: 'userSpaceOnUse', orient: 'auto-start-reverse' }, sv('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrowhead' })),
      sv('marker', { id: 'arrow-taken', viewBox: '0 0 10 10', refX: '9', refY: '5', markerWidth: '9', markerHeight: '9', markerUnits: 'userSpaceOnUse', orient: 'auto-start-reverse' }, sv('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrowhead taken' })),
    ]),
  );
  states.forEach((name, i) => {
    const x = left + i * colW;
    const current = name === plan.state;
    const final = !chart.transitions.some((t) => t.from === name);
    const g = sv('g', { class: `state${current ? ' current' : ''}${visited.has(name) ? ' visited' : ''}${final ? ' final' : ''}`, 'data-state': name });
    g.appendChild(sv('line', { x1: x + boxW / 2, y1: top + boxH, x2: x + boxW / 2, y2: height - 6, class: 'lifeline' }));
    g.appendChild(sv('rect', { x, y: top, width: boxW, height: boxH, rx: '8' }));
    if (final) g.appendChild(sv('rect', { x: x + 3, y: top + 3, width: boxW - 6, height: boxH - 6, rx: '6', class: 'inner' }));
    g.appendChild(sv('text', { x: x + boxW / 2, y: top + boxH / 2 + 5, 'text-anchor': 'middle' }, current ? `● ${name}` : name));
    if (current) g.appendChild(sv('title', {}, `${name}: the current state`));
    svg.appendChild(g);
    if (name === chart.initial) {
      svg.appendChild(sv('circle', { cx: x - 16, cy: top + boxH / 2, r: '5', class: 'initial' }));
      svg.appendChild(sv('line', { x1: x - 11, y1: top + boxH / 2, x2: x - 1, y2: top + boxH / 2, class: 'edge', 'marker-end': 'url(#arrow)' }));
    }
  });
  own.forEach((t, k) => {
    const y = lane0 + k * laneH;
    const x1 = cx(t.from);
    const x2 = cx(t.to);
    const isTaken = taken.has(`${t.from}|${t.to}|${t.event}`);
    const cls = `edge${isTaken ? ' taken' : ''}`;
    const marker = isTaken ? 'url(#arrow-taken)' : 'url(#arrow)';
    const g = sv('g', { class: `transition${isTaken ? ' taken' : ''}`, 'data-from': t.from, 'data-to': t.to, 'data-event': t.event });
    if (t.from === t.to) {
      g.appendChild(sv('path', { d: `M${x1},${y - 6} h20 v12 h-18`, class: cls, fill: 'none', 'marker-end': marker }));
      g.appendChild(sv('text', { x: x1 + 28, y: y + 4, class: 'label' }, `${transitionLabel(t)} ↺`));
    } else {
      const dir = x2 > x1 ? 1 : -1;
      g.appendChild(sv('line', { x1: x1 + 3 * dir, y1: y, x2: x2 - 3 * dir, y2: y, class: cls, 'marker-end': marker }));
      g.appendChild(sv('text', { x: Math.min(x1, x2) + 10, y: y - 5, class: 'label' }, transitionLabel(t)));
    }
    svg.appendChild(g);
  });
  const anyState = chart.transitions.filter((t) => t.from === '*');
  return el(
    'div',
    { class: 'chart-wrap' },
    el('div', { class: 'chart-scroll' }, svg),
    el('p', { class: 'legend muted' }, '● filled box: current state · bold arrows: transitions this incident took · double border: final state'),
    anyState.length
      ? el(
          'div',
          { class: 'any-state' },
          el('strong', {}, 'In any state: '),
          el(
            'ul',
            {},
            anyState.map((t) => el('li', {}, el('code', {}, t.event), t.guard ? ` [${t.guard}]` : '', ' → ', t.to === '*' ? 'stays in the same state' : t.to)),
          ),
        )
      : null,
  );
}

// ---------- incident detail ----------

function section(title, count, ...body) {
  return el('section', { class: 'chain' }, el('h3', {}, title, count === null ? null : el('span', { class: 'count' }, ` ${count}`)), body);
}

function observationsView(obs) {
  if (!obs.length) return el('p', { class: 'muted' }, 'none');
  return el(
    'table',
    { class: 'grid' },
    el('thead', {}, el('tr', {}, ['received', 'source', 'name', 'status', 'fingerprint', 'labels', 'outcome'].map((h) => el('th', {}, h)))),
    el(
      'tbody',
      {},
      obs.map((o) =>
        el('tr', {}, el('td', {}, time(o.receivedAt)), el('td', {}, o.source), el('td', {}, o.name), el('td', {}, badge(o.status, o.status)), el('td', {}, el('code', {}, o.fingerprint)), el('td', { class: 'labels' }, subjectOf(o.labels)), el('td', {}, o.outcome || '—')),
      ),
    ),
  );
}

function findingsView(findings) {
  if (!findings.length) return el('p', { class: 'muted' }, 'none');
  return findings.map((f) =>
    el(
      'article',
      { class: 'card finding', 'data-fingerprint': f.fingerprint },
      el('header', {}, el('strong', {}, f.name), ' ', badge(f.kind, 'kind'), ' ', badge(f.severity, f.severity), f.resolvedAt ? [' ', badge('resolved', 'resolved')] : null),
      el(
        'dl',
        { class: 'kv' },
        el('dt', {}, 'fingerprint'),
        el('dd', {}, el('code', {}, f.fingerprint)),
        el('dt', {}, 'seen'),
        el('dd', {}, time(f.createdAt)),
        f.resolvedAt ? [el('dt', {}, 'resolved'), el('dd', {}, time(f.resolvedAt))] : null,
        el('dt', {}, 'labels'),
        el('dd', { class: 'labels' }, subjectOf(f.labels)),
        el('dt', {}, 'values & thresholds'),
        el('dd', {}, kv(f.evidence, { empty: 'no values (an alert)' })),
      ),
    ),
  );
}

function guardChips(guards) {
  if (!Array.isArray(guards) || !guards.length) return el('span', { class: 'muted' }, 'none');
  return guards.map((g) => {
    if (g && typeof g === 'object' && 'name' in g) {
      const ok = g.result === true;
      return el('span', { class: `guard ${ok ? 'pass' : g.result === false ? 'fail' : ''}` }, `${g.name} ${ok ? '✓' : g.result === false ? '✗' : short(g.result)}`);
    }
    return el('span', { class: 'guard' }, short(g));
  });
}

function requestedView(actions) {
  if (!Array.isArray(actions) || !actions.length) return el('span', { class: 'muted' }, 'nothing');
  return el(
    'ul',
    { class: 'requested' },
    actions.map((a) =>
      a && a.timer
        ? el('li', {}, 'timer ', el('code', {}, a.timer), ` in ${fmtDuration(a.delayMs || 0)}`)
        : el('li', {}, el('code', {}, a.step || '?'), ` (${a.type || '?'})`, a.approvalQuorum ? ` — needs ${a.approvalQuorum} approvals` : ''),
    ),
  );
}

function eventView(ev) {
  if (!ev || typeof ev !== 'object') return el('code', {}, short(ev));
  const rest = {};
  for (const [k, v] of Object.entries(ev)) if (!['type', 'id', 'result', 'labels'].includes(k)) rest[k] = v;
  return el('div', {}, Object.keys(rest).length ? kv(rest) : null, jsonDetails('result', ev.result), ev.id ? el('div', { class: 'muted small' }, `event ${ev.id}`) : null);
}

function transitionsView(plan) {
  if (!plan) return el('p', { class: 'muted' }, 'no plan yet');
  const policy = plan.policy ? `${plan.policy.name || '?'} v${plan.policy.version || '?'}` : '—';
  if (!plan.history.length) return el('p', { class: 'muted' }, 'no transitions yet');
  return plan.history.map((d) =>
    el(
      'article',
      { class: 'card transition', 'data-decision': d.decisionId },
      el(
        'header',
        { class: 'transition-head' },
        el('span', { class: 'move' }, el('code', {}, d.from), ' → ', el('code', { class: 'to' }, d.to)),
        el('span', {}, 'on ', el('code', { class: 'event' }, (d.event && d.event.type) || '?')),
        el('span', { class: 'muted' }, 'policy ', policy),
        el('span', { class: 'muted' }, time(d.at)),
      ),
      el(
        'div',
        { class: 'why' },
        el('div', {}, el('h4', {}, 'event'), eventView(d.event)),
        el('div', {}, el('h4', {}, 'guards evaluated'), el('div', {}, guardChips(d.guards))),
        el('div', {}, el('h4', {}, 'evidence'), kv(d.evidence, { empty: 'none' })),
        el('div', {}, el('h4', {}, 'asked for'), requestedView(d.actions)),
      ),
    ),
  );
}

function outcomeSummary(a) {
  const o = a.outcome;
  if (o === null || o === undefined) return a.status === 'awaiting_approval' ? 'not run: awaiting approval' : '—';
  if (typeof o !== 'object') return short(o);
  if (o.error) return `error: ${o.error}`;
  if (o.status) return `HTTP ${o.status}${o.response && o.response.id ? ` · ${o.response.id}` : ''}`;
  return short(o);
}

function actionView(a) {
  const approvals = a.approvals || [];
  const approving = approvals.filter((x) => x.decision === 'approve').length;
  return el(
    'article',
    { class: `card action s-${a.status}`, 'data-action-id': a.id, 'data-step': a.step },
    el(
      'header',
      {},
      el('strong', {}, a.step),
      ' ',
      el('code', {}, a.type),
      ' ',
      el('span', { class: 'status' }, badge(a.status, a.status)),
      el('span', { class: 'muted' }, ` attempts ${a.attempts}`),
    ),
    el(
      'dl',
      { class: 'kv' },
      el('dt', {}, 'params'),
      el('dd', {}, kv(a.params)),
      el('dt', {}, 'idempotency key'),
      el('dd', {}, el('code', {}, a.idempotencyKey)),
      el('dt', {}, 'outcome'),
      el('dd', { class: 'outcome' }, outcomeSummary(a), jsonDetails('full outcome', a.outcome)),
      a.lastError && a.status !== 'succeeded' ? [el('dt', {}, 'last error'), el('dd', { class: 'error' }, a.lastError)] : null,
      el('dt', {}, 'updated'),
      el('dd', {}, time(a.updatedAt)),
      a.quorum || approvals.length
        ? [
            el('dt', {}, 'approvals'),
            el(
              'dd',
              { class: 'approvals' },
              a.quorum ? el('div', {}, `${approving} of ${a.quorum} approvals`) : null,
              approvals.length
                ? el(
                    'ul',
                    {},
                    approvals.map((x) => el('li', { class: x.decision }, x.decision === 'approve' ? '✓ approved by ' : '✗ rejected by ', el('strong', {}, x.by), ' at ', time(x.at), x.comment ? [' — ', el('q', {}, x.comment)] : null)),
                  )
                : el('div', { class: 'muted' }, 'nobody yet'),
            ),
          ]
        : null,
    ),
    a.status === 'awaiting_approval'
      ? el(
          'div',
          { class: 'buttons' },
          el('button', { type: 'button', class: 'approve', 'data-decision': 'approve', on: { click: () => openDecide(a, 'approve') } }, 'Approve…'),
          el('button', { type: 'button', class: 'reject', 'data-decision': 'reject', on: { click: () => openDecide(a, 'reject') } }, 'Reject…'),
        )
      : null,
  );
}

function timersView(timers) {
  if (!timers.length) return el('p', { class: 'muted' }, 'none');
  return el(
    'table',
    { class: 'grid' },
    el('thead', {}, el('tr', {}, ['timer', 'due', 'fired'].map((h) => el('th', {}, h)))),
    el('tbody', {}, timers.map((t) => el('tr', { 'data-timer': t.name }, el('td', {}, el('code', {}, t.name)), el('td', {}, time(t.dueAt)), el('td', {}, t.firedAt ? time(t.firedAt) : el('span', { class: 'muted' }, 'pending'))))),
  );
}

async function refreshDetail(force = false) {
  const box = $('detail');
  if (!ui.selectedId) return;
  let inc;
  try {
    inc = await api(`/api/incidents/${encodeURIComponent(ui.selectedId)}`);
  } catch (err) {
    replaceChildren(box, el('p', { class: 'error' }, `cannot show incident ${ui.selectedId}: ${err.message}`));
    ui.detailKey = '';
    return;
  }
  const key = JSON.stringify(inc);
  if (!force && key === ui.detailKey) {
    for (const t of box.querySelectorAll('time[datetime]')) {
      const rel = t.querySelector('span');
      if (rel && t.getAttribute('datetime')) rel.textContent = ` (${relTime(t.getAttribute('datetime'))})`;
    }
    return;
  }
  ui.detailKey = key;
  let chartView = el('p', { class: 'muted' }, 'no plan yet');
  if (inc.plan) {
    try {
      chartView = drawChart(await chartOf(inc.plan.machine), inc.plan);
    } catch (err) {
      chartView = el('p', { class: 'error' }, `statechart unavailable: ${err.message}`);
    }
  }
  const subject = subjectOf(inc.labels);
  const awaiting = inc.actions.filter((a) => a.status === 'awaiting_approval').length;
  const open = new Set([...box.querySelectorAll('details[open]')].map((d) => d.dataset.key));
  replaceChildren(
    box,
    el(
      'header',
      { class: 'detail-head' },
      el('h2', {}, inc.labels.alertname || inc.playbook, ' ', el('span', { class: 'subject' }, subject)),
      el(
        'div',
        { class: 'facts' },
        badge(inc.state, inc.state),
        awaiting ? el('span', { class: 'badge b-awaiting_approval' }, `${awaiting} action${awaiting > 1 ? 's' : ''} awaiting approval`) : null,
        el('span', {}, 'playbook ', el('code', {}, inc.playbook)),
        el('span', {}, 'opened ', time(inc.createdAt)),
        inc.closedAt ? el('span', {}, 'closed ', time(inc.closedAt)) : null,
        el('span', { class: 'muted' }, el('code', {}, inc.id)),
      ),
    ),
    section(`Plan: ${inc.plan ? inc.plan.machine : '—'}`, null, inc.plan ? el('p', {}, 'current state ', el('strong', { class: 'current-state' }, inc.plan.state), ` · policy ${inc.plan.policy ? `${inc.plan.policy.name} v${inc.plan.policy.version}` : '—'} · version ${inc.plan.version}`) : null, chartView),
    section('1 · Observations', inc.observations.length, observationsView(inc.observations)),
    section('2 · Findings', inc.findings.length, findingsView(inc.findings)),
    section('3 · Plan transitions', inc.plan ? inc.plan.history.length : 0, transitionsView(inc.plan)),
    section('4 · Actions', inc.actions.length, inc.actions.length ? inc.actions.map(actionView) : el('p', { class: 'muted' }, 'none')),
    section('Timers', inc.timers.length, timersView(inc.timers)),
  );
  // Keep open what the reader had opened across refreshes.
  box.querySelectorAll('details').forEach((d, i) => {
    d.dataset.key = String(i);
    if (open.has(String(i))) d.open = true;
  });
}

// ---------- approve / reject ----------

function openDecide(action, decision) {
  ui.decide = { action, decision };
  const verb = decision === 'approve' ? 'Approve' : 'Reject';
  $('decide-title').textContent = `${verb} ${action.step}`;
  $('decide-what').textContent = `${action.type} ${subjectOf(action.params)} — ${(action.approvals || []).filter((x) => x.decision === 'approve').length} of ${action.quorum || 1} approvals so far`;
  $('decide-submit').textContent = verb;
  $('decide-submit').className = decision;
  $('decide-comment').value = '';
  $('decide-error').hidden = true;
  $('decide-error').textContent = '';
  $('decide-dialog').showModal();
  $('decide-by').focus();
}

async function submitDecide(ev) {
  ev.preventDefault();
  if (!ui.decide) return;
  const { action, decision } = ui.decide;
  const by = $('decide-by').value.trim();
  const comment = $('decide-comment').value.trim();
  const body = { by };
  if (comment) body.comment = comment;
  $('decide-submit').disabled = true;
  try {
    const res = await api(`/api/actions/${encodeURIComponent(action.id)}/${decision}`, { body });
    $('decide-dialog').close();
    ui.decide = null;
    banner(`${decision === 'approve' ? 'approved' : 'rejected'} ${action.step} as ${by}${decision === 'approve' ? (res.quorumReached ? ' — quorum reached, the action runs' : ' — more approvals needed') : ''}`);
    await refreshDetail(true);
  } catch (err) {
    const e = $('decide-error');
    e.textContent = err.message;
    e.hidden = false;
  } finally {
    $('decide-submit').disabled = false;
  }
}

// ---------- wiring ----------

function readHash() {
  const m = /^#\/incident\/(.+)$/.exec(location.hash);
  ui.selectedId = m ? decodeURIComponent(m[1]) : null;
}

async function refreshAll() {
  if (ui.busy) return;
  ui.busy = true;
  try {
    const results = await Promise.allSettled([refreshList(), refreshLoop(), refreshDetail()]);
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) banner(`refresh failed: ${failed.reason && failed.reason.message}`, 'error', REFRESH_MS + 500);
  } finally {
    ui.busy = false;
  }
}

function restartList() {
  ui.cursors = [];
  ui.listKey = '';
  void refreshList().catch((err) => banner(`incidents: ${err.message}`, 'error'));
}

document.addEventListener('DOMContentLoaded', () => {
  readHash();
  $('pause-form').addEventListener('submit', pauseLoop);
  $('resume').addEventListener('click', resumeLoop);
  $('state-filter').addEventListener('change', restartList);
  $('label-filter').addEventListener('change', restartList);
  $('older').addEventListener('click', () => {
    if (ui.nextCursor) ui.cursors.push(ui.nextCursor);
    ui.listKey = '';
    void refreshList();
  });
  $('newer').addEventListener('click', restartList);
  $('decide-form').addEventListener('submit', submitDecide);
  $('decide-cancel').addEventListener('click', () => {
    ui.decide = null;
    $('decide-dialog').close();
  });
  window.addEventListener('hashchange', () => {
    readHash();
    ui.listKey = '';
    ui.detailKey = '';
    void refreshAll();
    if (window.innerWidth <= 1000) $('detail').scrollIntoView({ block: 'start' }); // one column: the detail is below the list
  });
  void refreshAll();
  setInterval(() => void refreshAll(), REFRESH_MS);
});

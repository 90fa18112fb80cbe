// The Charter simulator over real HTTP: metrics contract, actuator API, idempotency, faults.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type RunningSimulator } from '../../sim/index.ts';
import { CHARTER_METRIC_NAMES } from '../../sim/metrics.ts';

const TICK_MS = 100;
let sim: RunningSimulator;
let keySeq = 0;
const newKey = (): string => `test-key-${process.pid}-${++keySeq}`;

interface Answer {
  status: number;
  replayed: boolean;
  body: Record<string, unknown> & { items?: Array<Record<string, unknown>>; error?: string };
}

async function call(
  method: string,
  path: string,
  opts: { body?: unknown; key?: string | null; base?: string } = {},
): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const key = opts.key === undefined ? (method === 'GET' || !path.startsWith('/api/') ? null : newKey()) : opts.key;
  if (key !== null) headers['idempotency-key'] = key;
  const res = await fetch((opts.base ?? sim.url) + path, {
    method,
    headers,
    body: opts.body === undefined ? undefined : typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body),
  });
  const text = await res.text();
  return {
    status: res.status,
    replayed: res.headers.get('idempotent-replayed') === 'true',
    body: text === '' ? {} : (JSON.parse(text) as Answer['body']),
  };
}

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!m) throw new Error(`unparsable exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1] ?? ''] = l[2] ?? '';
    samples.push({ name: m[1] ?? '', labels, value: Number(m[3]) });
  }
  return samples;
}

async function scrape(base = sim.url): Promise<Sample[]> {
  const res = await fetch(`${base}/metrics`);
  return parseExposition(await res.text());
}

/** Sum of the samples of `name` whose labels include `match`. */
function sum(samples: Sample[], name: string, match: Record<string, string> = {}): number {
  return samples
    .filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v))
    .reduce((acc, s) => acc + s.value, 0);
}

const M = (name: string): string => `westworld_charter_${name}`;

/** Polls `probe` every 50 ms until it returns a truthy value, or fails at the deadline. */
async function until<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A histogram's buckets (le → cumulative count) from a scrape. */
function buckets(samples: Sample[], name: string): Map<string, number> {
  return new Map(samples.filter((s) => s.name === `${name}_bucket`).map((s) => [s.labels['le'] ?? '', s.value]));
}

/** The share of observations between two scrapes above bucket `le`. */
function shareAbove(before: Sample[], after: Sample[], name: string, le: string): { count: number; share: number } {
  const b0 = buckets(before, name);
  const b1 = buckets(after, name);
  const count = (b1.get('+Inf') ?? 0) - (b0.get('+Inf') ?? 0);
  const below = (b1.get(le) ?? 0) - (b0.get(le) ?? 0);
  return { count, share: count === 0 ? 0 : (count - below) / count };
}

beforeAll(async () => {
  sim = await startSimulator({ port: 0, tickMs: TICK_MS });
});

afterAll(async () => {
  await sim?.close();
});

afterEach(async () => {
  await call('DELETE', '/faults');
});

describe('/metrics', () => {
  it('exposes exactly the 15 Charter metrics, with their types and buckets', async () => {
    const text = await (await fetch(`${sim.url}/metrics`)).text();
    const types = new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1], m[2]]));
    expect([...types.keys()].sort()).toEqual([...CHARTER_METRIC_NAMES].sort());
    for (const name of CHARTER_METRIC_NAMES) {
      const expected = name.endsWith('_total') ? 'counter'
        : /_(ns|ms)$/.test(name) ? 'histogram'
        : 'gauge';
      expect(types.get(name), name).toBe(expected);
    }
    const samples = parseExposition(text);
    const expectBuckets = (name: string, les: string[]): void => {
      expect([...buckets(samples, M(name)).keys()], name).toEqual([...les, '+Inf']);
    };
    expectBuckets('metric_validation_latency_ns', ['100', '1000', '10000', '100000', '1000000', '10000000']);
    expectBuckets('policy_load_duration_ms', ['10', '50', '100', '200', '500', '1000']);
    expectBuckets('violation_report_latency_ms', ['50', '100', '250', '500', '1000', '2000']);
    expectBuckets('committee_notification_latency_ms', ['10', '50', '100', '250', '500', '1000']);
    expectBuckets('data_revocation_latency_ms', ['50', '100', '250', '500', '1000', '5000']);
    const labelNames = (name: string): string[] => Object.keys(samples.find((s) => s.name === M(name))?.labels ?? {}).sort();
    expect(labelNames('violations_total')).toEqual(['node_or_service', 'severity', 'violation_type']);
    expect(labelNames('forbidden_metric_attempts_total')).toEqual(['metric_name', 'node_or_service', 'status']);
    expect(labelNames('data_revocation_events_total')).toEqual(['node_or_service', 'reason']);
    expect(labelNames('audit_committee_notifications_total')).toEqual(['recipient_count', 'severity']);
    expect(labelNames('investigation_initiated_total')).toEqual(['initiated_by', 'violation_type']);
    expect(labelNames('emergency_override_total')).toEqual(['reason', 'who_triggered']);
    expect(labelNames('violations_under_investigation')).toEqual(['severity']);
  });

  it('shows background activity on every metric, under every threshold', async () => {
    const samples = await until('background activity on every metric', async () => {
      const s = await scrape();
      const counters = CHARTER_METRIC_NAMES.filter((n) => n.endsWith('_total'));
      const histograms = CHARTER_METRIC_NAMES.filter((n) => /_(ns|ms)$/.test(n));
      const active = counters.every((n) => sum(s, n) > 0) && histograms.every((n) => sum(s, `${n}_count`) > 0);
      return active ? s : undefined;
    });
    expect(sum(samples, M('audit_committee_size'))).toBe(7);
    expect(sum(samples, M('emergency_override_active_count'))).toBe(0);
    const underInvestigation = sum(samples, M('violations_under_investigation'));
    expect(underInvestigation).toBeGreaterThan(0);
    expect(underInvestigation).toBeLessThanOrEqual(10);
    expect(Date.now() / 1000 - sum(samples, M('policy_last_load_timestamp'))).toBeLessThan(3600);
    expect(sum(samples, M('violations_total'), { severity: 'PERMANENT_BAN' })).toBe(0);
    expect(sum(samples, M('violations_total'), { severity: 'CRIMINAL_REFERRAL' })).toBe(0);
    const validation = buckets(samples, M('metric_validation_latency_ns'));
    expect(validation.get('10000')).toBe(validation.get('+Inf'));
    const notifications = buckets(samples, M('committee_notification_latency_ms'));
    expect(notifications.get('1000')).toBe(notifications.get('+Inf'));
    const revocations = buckets(samples, M('data_revocation_latency_ms'));
    expect(revocations.get('5000')).toBe(revocations.get('+Inf'));
  });

  it('exposes a new label set at 0 before it first counts', async () => {
    // A tick far away: nothing flushes the held-back count during the test.
    const slow = await startSimulator({ port: 0, tickMs: 60_000 });
    try {
      const posted = await call('POST', '/api/investigations', {
        base: slow.url,
        body: { violation_type: 'first_seen_type', node_or_service: 'node-new', initiated_by: 'system' },
      });
      expect(posted.status).toBe(201);
      await call('POST', '/faults', { base: slow.url, body: { kind: 'violation_burst', node_or_service: 'node-new', severity: 'PERMANENT_BAN' } });
      const samples = await scrape(slow.url);
      const initiated = samples.filter((s) => s.name === M('investigation_initiated_total') && s.labels['violation_type'] === 'first_seen_type');
      expect(initiated.map((s) => s.value)).toEqual([0]);
      const bans = samples.filter((s) => s.name === M('violations_total') && s.labels['node_or_service'] === 'node-new');
      expect(bans.map((s) => [s.labels['severity'], s.value])).toEqual([['PERMANENT_BAN', 0]]);
    } finally {
      await slow.close();
    }
  });
});

describe('actuator API and Idempotency-Key', () => {
  const quarantine = { node_or_service: 'node-idem', reason: 'test' };

  it('answers a repeated key with the first answer and makes one record', async () => {
    const key = newKey();
    const first = await call('POST', '/api/quarantines', { key, body: quarantine });
    const second = await call('POST', '/api/quarantines', { key, body: quarantine });
    expect(first.status).toBe(201);
    expect(first.replayed).toBe(false);
    expect(second.status).toBe(201);
    expect(second.replayed).toBe(true);
    expect(second.body).toEqual(first.body);
    expect(first.body).toMatchObject({ idempotency_key: key, node_or_service: 'node-idem', reason: 'test', status: 'active' });
    expect(typeof first.body['id']).toBe('string');
    expect(new Date(String(first.body['created_at'])).toISOString()).toBe(first.body['created_at']);
    const list = await call('GET', '/api/quarantines');
    expect(list.body.items?.filter((q) => q['idempotency_key'] === key)).toHaveLength(1);
  });

  it('makes a new record for a new key', async () => {
    const a = await call('POST', '/api/quarantines', { body: quarantine });
    const b = await call('POST', '/api/quarantines', { body: quarantine });
    expect(a.status).toBe(201);
    expect(b.status).toBe(201);
    expect(b.body['id']).not.toBe(a.body['id']);
  });

  it('requires the key on every actuator call', async () => {
    const res = await call('POST', '/api/quarantines', { key: null, body: quarantine });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('Idempotency-Key header is required');
    expect((await call('POST', '/api/policy/reload', { key: null })).status).toBe(400);
  });

  it('refuses a key reused for a different body, path or method with 422', async () => {
    const key = newKey();
    expect((await call('POST', '/api/quarantines', { key, body: quarantine })).status).toBe(201);
    const other = await call('POST', '/api/quarantines', { key, body: { ...quarantine, reason: 'other' } });
    expect(other.status).toBe(422);
    expect(other.body.error).toMatch(/Idempotency-Key/);
    expect((await call('POST', '/api/policy/reload', { key })).status).toBe(422);
  });

  it('validates bodies, naming the field, and never crashes on bad input', async () => {
    const missing = await call('POST', '/api/revocations', { body: { node_or_service: 'n', reason: 'policy_violation' } });
    expect(missing.status).toBe(400);
    expect(missing.body.error).toMatch(/^scope: /);
    const badJson = await call('POST', '/api/quarantines', { body: '{"node_or_service": ' });
    expect(badJson.status).toBe(400);
    expect(badJson.body.error).toMatch(/JSON/);
    const notObject = await call('POST', '/api/investigations', { body: [1, 2] });
    expect(notObject.status).toBe(400);
    const severity = await call('POST', '/api/investigations', {
      body: { violation_type: 'x', node_or_service: 'n', initiated_by: 'system', severity: 'MILD' },
    });
    expect(severity.status).toBe(400);
    expect(severity.body.error).toMatch(/^severity: /);
    expect((await call('DELETE', '/api/quarantines/quarantine-999999')).status).toBe(404);
    expect((await call('POST', '/api/investigations/nope/hold')).status).toBe(404);
  });

  it('implements every call of the table and lists every collection', async () => {
    const q = await call('POST', '/api/quarantines', { body: { node_or_service: 'node-table', metric_name: 'user_location', reason: 'spike' } });
    expect(q.body).toMatchObject({ metric_name: 'user_location', status: 'active' });
    const lifted = await call('DELETE', `/api/quarantines/${String(q.body['id'])}`);
    expect(lifted.body).toMatchObject({ status: 'lifted' });
    expect(typeof lifted.body['lifted_at']).toBe('string');

    const r = await call('POST', '/api/revocations', { body: { node_or_service: 'node-table', reason: 'policy_violation', scope: 'all' } });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ status: 'completed', scope: 'all' });
    const restored = await call('DELETE', `/api/revocations/${String(r.body['id'])}`);
    expect(restored.body).toMatchObject({ status: 'restored', id: r.body['id'] });
    expect(typeof restored.body['restored_at']).toBe('string');

    const inv = await call('POST', '/api/investigations', { body: { violation_type: 'data_extraction', node_or_service: 'node-table', initiated_by: 'system' } });
    expect(inv.body).toMatchObject({ status: 'open', severity: 'WARNING', initiated_by: 'system' });
    const held = await call('POST', `/api/investigations/${String(inv.body['id'])}/hold`, { body: { by: 'mapek' } });
    expect(held.body).toMatchObject({ status: 'held' });

    const reload = await call('POST', '/api/policy/reload');
    expect(reload.status).toBe(201);
    expect(reload.body).toMatchObject({ status: 'loaded' });

    const before = await scrape();
    const n = await call('POST', '/api/committee/notifications', {
      body: { severity: 'CRIMINAL_REFERRAL', summary: 'node-table referred', recipients: ['chair', 'member-2'], node_or_service: 'node-table' },
    });
    expect(n.status).toBe(201);
    expect(n.body).toMatchObject({ recipient_count: 2, node_or_service: 'node-table' });
    await until('the notification counter to count', async () => {
      const s = await scrape();
      return sum(s, M('audit_committee_notifications_total'), { severity: 'CRIMINAL_REFERRAL', recipient_count: '2' }) === 1 &&
        sum(s, M('committee_notification_latency_ms_count')) > sum(before, M('committee_notification_latency_ms_count'));
    });

    for (const path of ['/api/quarantines', '/api/revocations', '/api/investigations', '/api/overrides', '/api/committee/notifications', '/api/policy/reloads']) {
      const list = await call('GET', path);
      expect(list.status, path).toBe(200);
      expect(Array.isArray(list.body.items), path).toBe(true);
    }
    const reloads = await call('GET', '/api/policy/reloads');
    expect(reloads.body.items?.some((x) => x['id'] === reload.body['id'])).toBe(true);
  });
});

describe('faults', () => {
  async function violationsOf(node: string): Promise<number> {
    return sum(await scrape(), M('violations_total'), { node_or_service: node });
  }

  /** Fails if the node's violations move during `ms` (sampled every 50 ms). */
  async function expectSteady(node: string, ms: number): Promise<void> {
    const start = await violationsOf(node);
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      expect(await violationsOf(node)).toBe(start);
    }
  }

  it('rejects an unknown kind and bad params, naming the field', async () => {
    const unknown = await call('POST', '/faults', { body: { kind: 'meteor_strike' } });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error).toMatch(/^kind: /);
    const missing = await call('POST', '/faults', { body: { kind: 'violation_burst', severity: 'WARNING' } });
    expect(missing.status).toBe(400);
    expect(missing.body.error).toMatch(/^node_or_service: /);
    const badSeverity = await call('POST', '/faults', { body: { kind: 'violation_burst', node_or_service: 'n', severity: 'BAD' } });
    expect(badSeverity.body.error).toMatch(/^severity: /);
    const typo = await call('POST', '/faults', { body: { kind: 'slow_actuator', delay: 10 } });
    expect(typo.status).toBe(400);
    expect(typo.body.error).toMatch(/delay/);
    expect((await call('POST', '/faults', { body: { kind: 'actuator_errors' } })).body.error).toMatch(/^count: /);
    expect((await call('POST', '/faults', { body: 'nonsense' })).status).toBe(400);
  });

  it('violation_burst grows the node\'s violations until it is quarantined', async () => {
    const node = 'node-burst';
    const fault = await call('POST', '/faults', { body: { kind: 'violation_burst', node_or_service: node, severity: 'SUSPENSION', rate_per_s: 20 } });
    expect(fault.status).toBe(201);
    expect(fault.body).toMatchObject({ kind: 'violation_burst', node_or_service: node, severity: 'SUSPENSION', rate_per_s: 20 });
    expect(typeof fault.body['id']).toBe('string');
    await until('more than 5 violations', async () => (await violationsOf(node)) > 5);

    // A quarantine of one metric does not stop violations; a whole-node one does.
    await call('POST', '/api/quarantines', { body: { node_or_service: node, metric_name: 'user_location', reason: 'metric only' } });
    const before = await violationsOf(node);
    await until('violations to keep growing', async () => (await violationsOf(node)) > before + 3);
    const q = await call('POST', '/api/quarantines', { body: { node_or_service: node, reason: 'stop it' } });
    expect(q.status).toBe(201);
    await new Promise((r) => setTimeout(r, 2 * TICK_MS));
    await expectSteady(node, 6 * TICK_MS);
    const faults = await call('GET', '/faults');
    expect(faults.body.items?.[0]).toMatchObject({ kind: 'violation_burst', emitting: false });

    // Lifting the quarantine lets the still-active burst go on.
    await call('DELETE', `/api/quarantines/${String(q.body['id'])}`);
    const lifted = await violationsOf(node);
    await until('violations to resume', async () => (await violationsOf(node)) > lifted);
  });

  it('violation_burst stops for a node revoked with scope all', async () => {
    const node = 'node-revoked';
    await call('POST', '/faults', { body: { kind: 'violation_burst', node_or_service: node, severity: 'PERMANENT_BAN', rate_per_s: 20 } });
    await until('violations', async () => (await violationsOf(node)) > 0);
    await call('POST', '/api/revocations', { body: { node_or_service: node, reason: 'policy_violation', scope: 'all' } });
    await new Promise((r) => setTimeout(r, 2 * TICK_MS));
    await expectSteady(node, 6 * TICK_MS);
  });

  it('quarantine_ineffective keeps a quarantined node violating', async () => {
    const node = 'node-stubborn';
    await call('POST', '/faults', { body: { kind: 'violation_burst', node_or_service: node, severity: 'BAN_1YEAR', rate_per_s: 20 } });
    expect((await call('POST', '/faults', { body: { kind: 'quarantine_ineffective', node_or_service: node } })).status).toBe(201);
    await call('POST', '/api/quarantines', { body: { node_or_service: node, reason: 'try' } });
    const after = await violationsOf(node);
    await until('violations to keep growing', async () => (await violationsOf(node)) > after + 5);
  });

  it('DELETE /faults clears them all, DELETE /faults/:kind one kind', async () => {
    const node = 'node-cleared';
    await call('POST', '/faults', { body: { kind: 'violation_burst', node_or_service: node, severity: 'WARNING', rate_per_s: 20 } });
    await call('POST', '/faults', { body: { kind: 'slow_validation' } });
    await call('POST', '/faults', { body: { kind: 'stale_policy' } });
    expect((await call('GET', '/faults')).body.items).toHaveLength(3);

    const one = await call('DELETE', '/faults/slow_validation');
    expect(one.body).toEqual({ cleared: 1 });
    expect((await call('GET', '/faults')).body.items?.map((f) => f['kind']).sort()).toEqual(['stale_policy', 'violation_burst']);
    expect((await call('DELETE', '/faults/not_a_kind')).status).toBe(404);

    await until('violations', async () => (await violationsOf(node)) > 0);
    const all = await call('DELETE', '/faults');
    expect(all.body).toEqual({ cleared: 2 });
    expect((await call('GET', '/faults')).body.items).toEqual([]);
    await new Promise((r) => setTimeout(r, 2 * TICK_MS));
    await expectSteady(node, 5 * TICK_MS);
    // Clearing stale_policy without a reload loads the policy again.
    const stamp = sum(await scrape(), M('policy_last_load_timestamp'));
    expect(Date.now() / 1000 - stamp).toBeLessThan(60);
  });

  it('actuator_errors {count: 2} answers 503 twice with no effect and no stored key, then succeeds', async () => {
    const node = 'node-flaky';
    expect((await call('POST', '/faults', { body: { kind: 'actuator_errors', count: 2, node_or_service: node } })).status).toBe(201);
    // Another node is not affected.
    expect((await call('POST', '/api/quarantines', { body: { node_or_service: 'node-fine', reason: 'x' } })).status).toBe(201);
    const key = newKey();
    const body = { node_or_service: node, reason: 'flaky' };
    const first = await call('POST', '/api/quarantines', { key, body });
    const second = await call('POST', '/api/quarantines', { key, body });
    expect([first.status, second.status]).toEqual([503, 503]);
    expect(second.replayed).toBe(false);
    const none = await call('GET', `/api/quarantines?node_or_service=${node}`);
    expect(none.body.items).toEqual([]);
    const third = await call('POST', '/api/quarantines', { key, body });
    expect(third.status).toBe(201);
    expect(third.replayed).toBe(false);
    const one = await call('GET', `/api/quarantines?node_or_service=${node}`);
    expect(one.body.items).toHaveLength(1);
    expect((await call('GET', '/faults')).body.items).toEqual([]);
  });

  it('actuator_errors {duration_ms} fails every call for that long, /metrics and GETs untouched', async () => {
    await call('POST', '/faults', { body: { kind: 'actuator_errors', duration_ms: 400 } });
    expect((await call('POST', '/api/policy/reload')).status).toBe(503);
    expect((await call('POST', '/api/quarantines', { body: { node_or_service: 'any', reason: 'x' } })).status).toBe(503);
    expect((await call('GET', '/api/quarantines')).status).toBe(200);
    expect((await fetch(`${sim.url}/metrics`)).status).toBe(200);
    await until('the errors to end', async () => (await call('POST', '/api/policy/reload')).status === 201);
  });

  it('slow_actuator answers late but the effect is there at once; a concurrent repeat waits or gets 409', async () => {
    const node = 'node-slow';
    await call('POST', '/faults', { body: { kind: 'slow_actuator', delay_ms: 800, node_or_service: node } });
    const key = newKey();
    const body = { node_or_service: node, reason: 'slow' };
    const started = Date.now();
    let settled = false;
    const pending = call('POST', '/api/quarantines', { key, body }).then((a) => {
      settled = true;
      return a;
    });
    await until('the record to exist', async () =>
      (await call('GET', '/api/quarantines')).body.items?.some((q) => q['idempotency_key'] === key), 700);
    expect(settled).toBe(false);
    const repeat = await call('POST', '/api/quarantines', { key, body });
    const first = await pending;
    expect(Date.now() - started).toBeGreaterThanOrEqual(750);
    expect(first.status).toBe(201);
    expect(repeat.status).toBe(201);
    expect(repeat.replayed).toBe(true);
    expect(repeat.body).toEqual(first.body);

    await call('DELETE', '/faults');
    await call('POST', '/faults', { body: { kind: 'slow_actuator', delay_ms: 3_000 } });
    const key2 = newKey();
    const long = call('POST', '/api/quarantines', { key: key2, body });
    await until('the record to exist', async () =>
      (await call('GET', '/api/quarantines')).body.items?.some((q) => q['idempotency_key'] === key2));
    const busy = await call('POST', '/api/quarantines', { key: key2, body });
    expect(busy.status).toBe(409);
    expect(busy.body.error).toBe('request with this Idempotency-Key is in flight');
    expect((await long).status).toBe(201);
  });

  it('every fault kind moves its metric over its alert threshold', async () => {
    // Rule 2: more than 3 forbidden attempts in 1 min for one node.
    const before2 = await scrape();
    await call('POST', '/faults', { body: { kind: 'forbidden_attempts', node_or_service: 'node-snoop', metric_name: 'browsing_history', rate_per_s: 10 } });
    await until('more than 3 attempts', async () =>
      sum(await scrape(), M('forbidden_metric_attempts_total'), { node_or_service: 'node-snoop' }) -
        sum(before2, M('forbidden_metric_attempts_total'), { node_or_service: 'node-snoop' }) > 3);
    // The metric-level quarantine stops them.
    await call('POST', '/api/quarantines', { body: { node_or_service: 'node-snoop', metric_name: 'browsing_history', reason: 'spike' } });
    await new Promise((r) => setTimeout(r, 2 * TICK_MS));
    const stopped = sum(await scrape(), M('forbidden_metric_attempts_total'), { node_or_service: 'node-snoop' });
    await new Promise((r) => setTimeout(r, 4 * TICK_MS));
    expect(sum(await scrape(), M('forbidden_metric_attempts_total'), { node_or_service: 'node-snoop' })).toBe(stopped);

    // Rule 3: p99 validation latency above 20 µs.
    const before3 = await scrape();
    await call('POST', '/faults', { body: { kind: 'slow_validation' } });
    await until('slow validations', async () => {
      const { count, share } = shareAbove(before3, await scrape(), M('metric_validation_latency_ns'), '10000');
      return count > 10 && share > 0.5;
    });

    // Rule 4: policy not loaded for more than 24 h, until a reload.
    await call('POST', '/faults', { body: { kind: 'stale_policy', reloads_fail: true } });
    const stale = (): Promise<boolean> => scrape().then((s) => Date.now() / 1000 - sum(s, M('policy_last_load_timestamp')) > 86_400);
    expect(await stale()).toBe(true);
    const failed = await call('POST', '/api/policy/reload');
    expect(failed.body).toMatchObject({ status: 'failed' });
    expect(await stale()).toBe(true);
    await call('DELETE', '/faults/stale_policy');
    await call('POST', '/faults', { body: { kind: 'stale_policy' } });
    expect(await stale()).toBe(true);
    expect((await call('POST', '/api/policy/reload')).body).toMatchObject({ status: 'loaded' });
    expect(await stale()).toBe(false);
    expect((await call('GET', '/faults')).body.items?.some((f) => f['kind'] === 'stale_policy')).toBe(false);

    // Rule 5: an override active for more than 30 min; the API ends or extends it.
    const stuck = await call('POST', '/faults', { body: { kind: 'override_stuck' } });
    expect(stuck.status).toBe(201);
    expect(sum(await scrape(), M('emergency_override_active_count'))).toBe(1);
    const overrides = (await call('GET', '/api/overrides?status=active')).body.items ?? [];
    expect(overrides).toHaveLength(1);
    const override = overrides[0] ?? {};
    expect(Date.now() - Date.parse(String(override['started_at']))).toBeGreaterThan(30 * 60_000);
    const extended = await call('POST', `/api/overrides/${String(override['id'])}/extend`, { body: { minutes: 15, by: 'chair' } });
    expect(extended.status).toBe(200);
    expect(extended.body['extensions']).toHaveLength(1);
    const revoked = await call('POST', `/api/overrides/${String(override['id'])}/revoke`);
    expect(revoked.body).toMatchObject({ status: 'revoked' });
    expect(sum(await scrape(), M('emergency_override_active_count'))).toBe(0);

    // Rule 6: more than 1% of committee notifications above 1 s.
    const before6 = await scrape();
    await call('POST', '/faults', { body: { kind: 'slow_notifications', rate_per_s: 5 } });
    await until('slow notifications', async () =>
      shareAbove(before6, await scrape(), M('committee_notification_latency_ms'), '1000').share > 0.01);
    const slowNote = await call('POST', '/api/committee/notifications', { body: { severity: 'WARNING', summary: 's', recipients: 3 } });
    expect(slowNote.body['latency_ms']).toBeGreaterThan(1000);

    // Rule 7: more than 1% of revocations above 5 s; posted ones stay pending.
    const before7 = await scrape();
    await call('POST', '/faults', { body: { kind: 'slow_revocation', rate_per_s: 5 } });
    await until('slow revocations', async () =>
      shareAbove(before7, await scrape(), M('data_revocation_latency_ms'), '5000').share > 0.01);
    const pendingRev = await call('POST', '/api/revocations', { body: { node_or_service: 'node-slowrev', reason: 'policy_violation', scope: 'all' } });
    expect(pendingRev.status).toBe(202);
    expect(pendingRev.body).toMatchObject({ status: 'pending' });
    const pendingList = await call('GET', '/api/revocations?status=pending');
    expect(pendingList.body.items?.map((r) => r['id'])).toContain(pendingRev.body['id']);
    await call('DELETE', '/faults/slow_revocation');
    const done = await call('GET', `/api/revocations/${String(pendingRev.body['id'])}`);
    expect(done.body).toMatchObject({ status: 'completed' });
    await call('POST', '/faults', { body: { kind: 'slow_revocation', pending_ms: 300 } });
    const timed = await call('POST', '/api/revocations', { body: { node_or_service: 'node-slowrev', reason: 'policy_violation', scope: 'data' } });
    expect(timed.body).toMatchObject({ status: 'pending' });
    await until('the slow revocation to complete', async () =>
      (await call('GET', `/api/revocations/${String(timed.body['id'])}`)).body['status'] === 'completed');

    // Rule 8: more than 10 policy loads per hour.
    const before8 = await scrape();
    await call('POST', '/faults', { body: { kind: 'policy_flapping', rate_per_s: 20 } });
    await until('more than 10 loads', async () =>
      sum(await scrape(), M('policy_load_duration_ms_count')) - sum(before8, M('policy_load_duration_ms_count')) > 10);

    // Rule 9: more than 10 under investigation; holding the non-critical ones relieves it.
    await call('POST', '/faults', { body: { kind: 'committee_overload' } });
    expect(sum(await scrape(), M('violations_under_investigation'))).toBeGreaterThan(10);
    const open = (await call('GET', '/api/investigations?status=open&origin=fault')).body.items ?? [];
    for (const inv of open.filter((i) => i['severity'] === 'WARNING' || i['severity'] === 'SUSPENSION')) {
      expect((await call('POST', `/api/investigations/${String(inv['id'])}/hold`)).body).toMatchObject({ status: 'held' });
    }
    expect(sum(await scrape(), M('violations_under_investigation'))).toBeLessThanOrEqual(10);
    // Clearing the fault closes the investigations it opened that are still open, and the gauge follows.
    const stillOpen = ((await call('GET', '/api/investigations?status=open&origin=fault')).body.items ?? []).length;
    expect(stillOpen).toBeGreaterThan(0);
    const beforeClear = sum(await scrape(), M('violations_under_investigation'));
    expect((await call('DELETE', '/faults/committee_overload')).status).toBe(200);
    expect(sum(await scrape(), M('violations_under_investigation'))).toBe(beforeClear - stillOpen);
    await call('POST', '/faults', { body: { kind: 'committee_overload' } }); // back, for the checks of every fault below

    // Rule 10: more than 5 violations per second overall, without any node over rule 1's 5.
    const before10 = await scrape();
    const t10 = Date.now();
    await call('POST', '/faults', { body: { kind: 'violation_flood' } });
    const after10 = await until('a flood', async () => {
      const s = await scrape();
      const elapsed = (Date.now() - t10) / 1000;
      return elapsed > 1.5 && (sum(s, M('violations_total')) - sum(before10, M('violations_total'))) / elapsed > 5 ? s : undefined;
    });
    const floodMax = Math.max(...after10.filter((s) => s.name === M('violations_total') && s.labels['node_or_service']?.startsWith('flood-node-')).map((s) => s.value));
    expect(floodMax).toBeGreaterThan(0);
    expect(floodMax).toBeLessThanOrEqual(3);

    // Rule 11: more than one revocation per minute.
    const before11 = await scrape();
    await call('POST', '/faults', { body: { kind: 'revocation_storm', rate_per_s: 5 } });
    await until('a revocation storm', async () =>
      sum(await scrape(), M('data_revocation_events_total')) - sum(before11, M('data_revocation_events_total')) > 2);

    const kinds = (await call('GET', '/faults')).body.items?.map((f) => f['kind']);
    expect(new Set(kinds)).toEqual(new Set([
      'forbidden_attempts', 'slow_validation', 'override_stuck', 'slow_notifications', 'slow_revocation',
      'policy_flapping', 'committee_overload', 'violation_flood', 'revocation_storm',
    ]));
    await call('DELETE', '/faults');
    expect((await call('GET', '/api/investigations?origin=fault&status=open')).body.items).toEqual([]);
  });
});

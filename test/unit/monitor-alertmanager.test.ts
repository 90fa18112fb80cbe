// The Alertmanager webhook (v4): validation of real payloads, field-naming errors, dedup keys, and
// that hostile label names cannot reach Object.prototype.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { findingFromAlert, type AlertSignal } from '../../src/analyze/findings.ts';
import { ValidationError } from '../../src/errors.ts';
import { observationsFromWebhook, parseWebhook } from '../../src/monitor/alertmanager.ts';

/** A payload as Alertmanager 0.27+ sends it, newer fields included. */
function realPayload(): Record<string, any> { // eslint-disable-line @typescript-eslint/no-explicit-any
  return {
    receiver: 'mapek',
    status: 'firing',
    alerts: [
      {
        status: 'firing',
        labels: {
          alertname: 'CriticalViolationDetected',
          node_or_service: 'node-12',
          severity: 'critical',
          violation_severity: 'BAN_1YEAR',
          violation_type: 'unauthorized_access',
        },
        annotations: { summary: 'Critical Charter violation by node-12', description: 'A BAN_1YEAR violation was recorded.' },
        startsAt: '2030-03-01T12:00:00.123Z',
        endsAt: '0001-01-01T00:00:00Z',
        generatorURL: 'http://prometheus:9090/graph?g0.expr=increase%28westworld_charter_violations_total%5B1m%5D%29&g0.tab=1',
        fingerprint: '5d3e1f0a9b8c7d6e',
      },
      {
        status: 'resolved',
        labels: { alertname: 'CriticalViolationDetected', node_or_service: 'node-4', severity: 'critical' },
        annotations: {},
        startsAt: '2030-03-01T11:00:00Z',
        endsAt: '2030-03-01T11:30:00Z',
        generatorURL: '',
        fingerprint: '0011223344556677',
      },
    ],
    groupLabels: { alertname: 'CriticalViolationDetected' },
    commonLabels: { alertname: 'CriticalViolationDetected', severity: 'critical' },
    commonAnnotations: {},
    externalURL: 'http://alertmanager:9093',
    version: '4',
    groupKey: '{}/{severity="critical"}:{alertname="CriticalViolationDetected"}',
    truncatedAlerts: 0,
    // fields a newer Alertmanager may add must not be refused
    notification_reason: 'repeat_interval',
    groupKeyHash: 'abc',
  };
}

function errorOf(fn: () => unknown): ValidationError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    return err as ValidationError;
  }
  throw new Error('expected a ValidationError, nothing was thrown');
}

describe('parseWebhook', () => {
  it('accepts a full real v4 payload, unknown extra fields included', () => {
    const p = parseWebhook(realPayload());
    expect(p.receiver).toBe('mapek');
    expect(p.status).toBe('firing');
    expect(p.truncatedAlerts).toBe(0);
    expect(p.alerts).toHaveLength(2);
    expect(p.alerts[0]!.endsAt).toBe('0001-01-01T00:00:00Z');
    expect(p.alerts[0]!.labels.violation_severity).toBe('BAN_1YEAR');
    expect(p.alerts[1]!.status).toBe('resolved');
  });

  it('accepts a payload that says alerts were truncated', () => {
    const body = realPayload();
    body.truncatedAlerts = 17;
    expect(parseWebhook(body).truncatedAlerts).toBe(17);
  });

  it('accepts the bare minimum, defaulting the optional maps', () => {
    const p = parseWebhook({
      status: 'firing',
      receiver: 'r',
      alerts: [{ status: 'firing', labels: { alertname: 'X' }, startsAt: '2030-01-01T00:00:00Z', fingerprint: 'f' }],
    });
    expect(p.alerts[0]!.annotations).toEqual({});
    expect(p.groupLabels).toEqual({});
    expect(p.commonLabels).toEqual({});
    expect(p.truncatedAlerts).toBe(0);
  });

  it('takes any non-empty string as a fingerprint (DESIGN.md)', () => {
    const body = realPayload();
    body.alerts[0].fingerprint = 'not-hex: ünïcode / 42';
    expect(parseWebhook(body).alerts[0]!.fingerprint).toBe('not-hex: ünïcode / 42');
  });

  it('accepts an empty alerts list', () => {
    const body = realPayload();
    body.alerts = [];
    expect(parseWebhook(body).alerts).toEqual([]);
  });

  type Mutation = (b: Record<string, any>) => void; // eslint-disable-line @typescript-eslint/no-explicit-any
  const cases: Array<[string, Mutation, string]> = [
    ['missing fingerprint', (b) => delete b.alerts[0].fingerprint, 'alerts.0.fingerprint'],
    ['empty fingerprint', (b) => (b.alerts[0].fingerprint = ''), 'alerts.0.fingerprint'],
    ['numeric fingerprint', (b) => (b.alerts[1].fingerprint = 1234), 'alerts.1.fingerprint'],
    ['unknown alert status', (b) => (b.alerts[1].status = 'pending'), 'alerts.1.status'],
    ['missing startsAt', (b) => delete b.alerts[0].startsAt, 'alerts.0.startsAt'],
    ['empty startsAt', (b) => (b.alerts[0].startsAt = ''), 'alerts.0.startsAt'],
    ['non-string label value', (b) => (b.alerts[0].labels.node_or_service = 12), 'alerts.0.labels.node_or_service'],
    ['labels not an object', (b) => (b.alerts[1].labels = 'x'), 'alerts.1.labels'],
    ['non-string annotation', (b) => (b.alerts[0].annotations.summary = { text: 'x' }), 'alerts.0.annotations.summary'],
    ['missing receiver', (b) => delete b.receiver, 'receiver'],
    ['unknown group status', (b) => (b.status = 'silenced'), 'status'],
    ['alerts not a list', (b) => (b.alerts = { 0: {} }), 'alerts'],
    ['missing alerts', (b) => delete b.alerts, 'alerts'],
    ['negative truncatedAlerts', (b) => (b.truncatedAlerts = -1), 'truncatedAlerts'],
    ['fractional truncatedAlerts', (b) => (b.truncatedAlerts = 1.5), 'truncatedAlerts'],
    ['non-string commonLabels value', (b) => (b.commonLabels.severity = null), 'commonLabels.severity'],
  ];

  it.each(cases)('refuses a payload with %s, naming %s', (_what, mutate, path) => {
    const body = realPayload();
    mutate(body);
    const err = errorOf(() => parseWebhook(body));
    expect(err.field).toBe(path);
    expect(err.message).toContain(path);
  });

  it.each([
    ['null', null],
    ['a string', 'hello'],
    ['a list', [realPayload()]],
  ])('refuses a body that is %s', (_what, body) => {
    const err = errorOf(() => parseWebhook(body));
    expect(err.message).toMatch(/invalid Alertmanager payload/);
  });
});

describe('observationsFromWebhook', () => {
  it('makes one observation per alert, with its labels and the alert for analyze', () => {
    const obs = observationsFromWebhook(parseWebhook(realPayload()));
    expect(obs).toHaveLength(2);
    const [a, b] = obs;
    expect(a).toMatchObject({
      source: 'alertmanager',
      name: 'CriticalViolationDetected',
      status: 'firing',
      fingerprint: '5d3e1f0a9b8c7d6e',
      labels: { node_or_service: 'node-12' },
    });
    expect(a!.id).toMatch(/^obs_/);
    expect(b!.status).toBe('resolved');
    const payload = a!.payload as { alert: AlertSignal; receiver: string; groupKey?: string; externalURL?: string };
    expect(payload.receiver).toBe('mapek');
    expect(payload.externalURL).toBe('http://alertmanager:9093');
    expect(payload.alert).toMatchObject({ status: 'firing', startsAt: '2030-03-01T12:00:00.123Z', endsAt: '0001-01-01T00:00:00Z', fingerprint: '5d3e1f0a9b8c7d6e' });
  });

  it('names an alert without alertname "unnamed"', () => {
    const body = realPayload();
    delete body.alerts[0].labels.alertname;
    expect(observationsFromWebhook(parseWebhook(body))[0]!.name).toBe('unnamed');
  });

  it('gives re-sends the same dedup key and id (repeat_interval, retries, the other HA member)', () => {
    const first = observationsFromWebhook(parseWebhook(realPayload()));
    const resend = realPayload();
    resend.receiver = 'mapek-ha-2';
    resend.notification_reason = 'retry';
    resend.alerts[0].annotations.summary = 're-rendered';
    resend.alerts.reverse();
    const again = observationsFromWebhook(parseWebhook(resend));
    const byFp = (o: typeof first) => Object.fromEntries(o.map((x) => [x.fingerprint, x]));
    for (const fp of ['5d3e1f0a9b8c7d6e', '0011223344556677']) {
      expect(byFp(again)[fp]!.dedupKey).toBe(byFp(first)[fp]!.dedupKey);
      expect(byFp(again)[fp]!.id).toBe(byFp(first)[fp]!.id);
    }
  });

  it('gives a different dedup key when the status or startsAt changes', () => {
    const firing = observationsFromWebhook(parseWebhook(realPayload()))[0]!;
    const resolvedBody = realPayload();
    resolvedBody.alerts[0].status = 'resolved';
    resolvedBody.alerts[0].endsAt = '2030-03-01T12:20:00Z';
    const resolved = observationsFromWebhook(parseWebhook(resolvedBody))[0]!;
    const restartedBody = realPayload();
    restartedBody.alerts[0].startsAt = '2030-03-01T13:00:00.000Z';
    const restarted = observationsFromWebhook(parseWebhook(restartedBody))[0]!;
    expect(new Set([firing.dedupKey, resolved.dedupKey, restarted.dedupKey]).size).toBe(3);
    expect(new Set([firing.id, resolved.id, restarted.id]).size).toBe(3);
  });

  it('dedup keys are equal exactly when fingerprint, status and startsAt are', () => {
    const startsAt = fc.date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }).map((d) => d.toISOString());
    const alertArb = fc.record({
      fingerprint: fc.string({ minLength: 1, maxLength: 12 }),
      status: fc.constantFrom('firing' as const, 'resolved' as const),
      startsAt,
      summary: fc.string({ maxLength: 5 }),
    });
    fc.assert(
      fc.property(alertArb, alertArb, (x, y) => {
        const obs = (a: typeof x) =>
          observationsFromWebhook(
            parseWebhook({
              status: a.status,
              receiver: 'r',
              alerts: [{ status: a.status, labels: { alertname: 'A' }, annotations: { summary: a.summary }, startsAt: a.startsAt, fingerprint: a.fingerprint }],
            }),
          )[0]!;
        const same = x.fingerprint === y.fingerprint && x.status === y.status && x.startsAt === y.startsAt;
        expect(obs(x).dedupKey === obs(y).dedupKey).toBe(same);
        expect(obs(x).id === obs(y).id).toBe(same);
      }),
    );
  });
});

describe('prototype pollution', () => {
  const hostile = `{
    "status": "firing", "receiver": "r",
    "groupLabels": {"__proto__": {"polluted": "group"}},
    "commonLabels": {"__proto__": "x", "alertname": "CriticalViolationDetected"},
    "alerts": [
      {"status": "firing", "startsAt": "2030-01-01T00:00:00Z", "fingerprint": "f1",
       "labels": {"__proto__": {"polluted": "yes", "isAdmin": "true"}, "alertname": "CriticalViolationDetected", "node_or_service": "n1"},
       "annotations": {"__proto__": {"polluted": "ann"}}},
      {"status": "firing", "startsAt": "2030-01-01T00:00:00Z", "fingerprint": "f2",
       "labels": {"__proto__": "yes", "constructor": "c", "alertname": "CriticalViolationDetected", "node_or_service": "n2"}}
    ]
  }`;

  it('__proto__ keys in labels never reach Object.prototype', () => {
    const body = JSON.parse(hostile) as unknown;
    let parsed: ReturnType<typeof parseWebhook> | undefined;
    try {
      parsed = parseWebhook(body);
    } catch (err) {
      // refusing the payload is fine too, as long as it is a 400
      expect(err).toBeInstanceOf(ValidationError);
    }
    if (parsed) {
      const obs = observationsFromWebhook(parsed);
      for (const o of obs) {
        expect(Object.getPrototypeOf(o.labels) === Object.prototype || Object.getPrototypeOf(o.labels) === null).toBe(true);
        expect((o.labels as Record<string, unknown>).polluted).toBeUndefined();
        expect((o.labels as Record<string, unknown>).isAdmin).toBeUndefined();
        for (const v of Object.values(o.labels)) expect(typeof v).toBe('string');
        const f = findingFromAlert((o.payload as { alert: AlertSignal }).alert, [
          { playbook: 'critical-violation', alertnames: ['CriticalViolationDetected'], subjectLabels: ['node_or_service'] },
        ]);
        expect(f?.route?.subjectKey).toMatch(/^\[\["node_or_service","n[12]"\]\]$/);
        expect((f!.labels as Record<string, unknown>).polluted).toBeUndefined();
      }
      // a label named constructor is data, not a function
      expect(obs[1]!.labels.constructor).toBe('c');
    }
    const probe: Record<string, unknown> = {};
    expect(probe.polluted).toBeUndefined();
    expect(probe.isAdmin).toBeUndefined();
    expect(Object.prototype.hasOwnProperty.call(Object.prototype, 'polluted')).toBe(false);
  });
});

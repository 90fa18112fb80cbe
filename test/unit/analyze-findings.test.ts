// Analyze for alerts: a firing alert → a finding routed to a playbook and a subject. Pure functions only.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { findingFromAlert, subjectKey, type AlertSignal, type PlaybookRoute } from '../../src/analyze/findings.ts';

const ROUTES: PlaybookRoute[] = [
  { playbook: 'critical-violation', alertnames: ['CriticalViolationDetected'], subjectLabels: ['node_or_service'] },
];

function alert(over: Partial<AlertSignal> = {}, labels: Record<string, string> = {}): AlertSignal {
  return {
    status: 'firing',
    labels: { alertname: 'CriticalViolationDetected', node_or_service: 'node-3', severity: 'critical', violation_severity: 'SUSPENSION', ...labels },
    annotations: { summary: 'Critical violation on node-3', description: 'BAN-level violation observed' },
    startsAt: '2030-01-01T10:00:00.000Z',
    endsAt: '0001-01-01T00:00:00Z',
    fingerprint: 'a1b2c3d4e5f60718',
    generatorURL: 'http://prometheus:9090/graph?g0.expr=x',
    ...over,
  };
}

describe('findingFromAlert', () => {
  it('routes a firing CriticalViolationDetected to the playbook with its subject', () => {
    const f = findingFromAlert(alert(), ROUTES)!;
    expect(f).not.toBeNull();
    expect(f.id).toMatch(/^fnd_[0-9a-f]{24}$/);
    expect(f.fingerprint).toBe('a1b2c3d4e5f60718');
    expect(f.name).toBe('CriticalViolationDetected');
    expect(f.kind).toBe('alert');
    expect(f.severity).toBe('critical');
    expect(f.labels).toMatchObject({ node_or_service: 'node-3', violation_severity: 'SUSPENSION' });
    expect(f.evidence).toMatchObject({
      startsAt: '2030-01-01T10:00:00.000Z',
      summary: 'Critical violation on node-3',
      description: 'BAN-level violation observed',
      generatorURL: 'http://prometheus:9090/graph?g0.expr=x',
    });
    expect(f.route).toEqual({ playbook: 'critical-violation', subject: { node_or_service: 'node-3' }, subjectKey: '[["node_or_service","node-3"]]' });
    expect(f.unrouted).toBeUndefined();
  });

  it('keeps only the subject labels in the subject', () => {
    const f = findingFromAlert(alert({}, { instance: 'x:9100', job: 'charter' }), ROUTES)!;
    expect(Object.keys(f.route!.subject)).toEqual(['node_or_service']);
  });

  it('gives the same id to re-sends of the same alert (same fingerprint and startsAt)', () => {
    const first = findingFromAlert(alert(), ROUTES)!;
    // a repeat_interval re-send: annotations may be re-rendered, endsAt moves, other labels identical
    const resend = findingFromAlert(
      alert({ annotations: { summary: 'updated text' }, endsAt: '2030-01-01T10:05:00Z', generatorURL: 'http://other/' }),
      ROUTES,
    )!;
    expect(resend.id).toBe(first.id);
  });

  it('gives a new id when the alert starts again or is another alert', () => {
    const first = findingFromAlert(alert(), ROUTES)!;
    expect(findingFromAlert(alert({ startsAt: '2030-01-01T11:00:00.000Z' }), ROUTES)!.id).not.toBe(first.id);
    expect(findingFromAlert(alert({ fingerprint: 'ffff000011112222' }), ROUTES)!.id).not.toBe(first.id);
  });

  it('the id depends on fingerprint and startsAt only, and never collides across them', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), fc.string({ minLength: 1 }), fc.string({ minLength: 1 }), fc.string({ minLength: 1 }), (fp1, s1, fp2, s2) => {
        const a = findingFromAlert(alert({ fingerprint: fp1, startsAt: s1 }), ROUTES)!.id;
        const b = findingFromAlert(alert({ fingerprint: fp2, startsAt: s2 }), ROUTES)!.id;
        expect(a === b).toBe(fp1 === fp2 && s1 === s2);
      }),
    );
  });

  it('a resolved alert gives no finding', () => {
    expect(findingFromAlert(alert({ status: 'resolved', endsAt: '2030-01-01T10:10:00Z' }), ROUTES)).toBeNull();
  });

  it('an alert no playbook handles is recorded but unrouted, saying why', () => {
    const f = findingFromAlert(alert({}, { alertname: 'ValidationLatencySLAViolation' }), ROUTES)!;
    expect(f).not.toBeNull();
    expect(f.route).toBeUndefined();
    expect(f.unrouted).toContain('ValidationLatencySLAViolation');
    expect(f.name).toBe('ValidationLatencySLAViolation');
  });

  it('an alert without alertname is unnamed and unrouted', () => {
    const labels: Record<string, string> = { node_or_service: 'node-3' };
    const f = findingFromAlert({ ...alert(), labels }, ROUTES)!;
    expect(f.name).toBe('unnamed');
    expect(f.severity).toBe('unknown');
    expect(f.route).toBeUndefined();
    expect(f.unrouted).toBeTruthy();
  });

  it.each([
    ['missing', undefined],
    ['empty', ''],
  ])('a routed alert whose subject label is %s is unrouted, naming the label', (_what, value) => {
    const labels: Record<string, string> = { alertname: 'CriticalViolationDetected' };
    if (value !== undefined) labels.node_or_service = value;
    const f = findingFromAlert({ ...alert(), labels }, ROUTES)!;
    expect(f.route).toBeUndefined();
    expect(f.unrouted).toContain('node_or_service');
  });

  it('names every missing subject label of a multi-label route', () => {
    const routes: PlaybookRoute[] = [{ playbook: 'p', alertnames: ['A'], subjectLabels: ['cluster', 'node_or_service', 'zone'] }];
    const f = findingFromAlert({ ...alert(), labels: { alertname: 'A', node_or_service: 'n' } }, routes)!;
    expect(f.unrouted).toContain('cluster');
    expect(f.unrouted).toContain('zone');
    expect(f.unrouted).not.toContain('node_or_service');
  });

  it('picks the route that lists the alertname', () => {
    const routes: PlaybookRoute[] = [
      { playbook: 'other', alertnames: ['PolicyLoadFailure'], subjectLabels: ['job'] },
      ...ROUTES,
    ];
    expect(findingFromAlert(alert(), routes)!.route!.playbook).toBe('critical-violation');
  });
});

describe('subjectKey', () => {
  it('sorts the labels by name', () => {
    expect(subjectKey({ zone: 'eu', cluster: 'c1', node_or_service: 'n' })).toBe('[["cluster","c1"],["node_or_service","n"],["zone","eu"]]');
    expect(subjectKey({ node_or_service: 'node-3' })).toBe('[["node_or_service","node-3"]]');
    expect(subjectKey({})).toBe('[]');
  });

  it('does not depend on the order labels arrive in', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), fc.string({ maxLength: 8 }), { maxKeys: 6 }), (subject) => {
        const reversed = Object.fromEntries(Object.entries(subject).reverse());
        expect(subjectKey(reversed)).toBe(subjectKey(subject));
      }),
    );
  });

  it('a routed finding uses the same key whatever the label order in the alert', () => {
    const routes: PlaybookRoute[] = [{ playbook: 'p', alertnames: ['A'], subjectLabels: ['zone', 'cluster'] }];
    const a = findingFromAlert({ ...alert(), labels: { alertname: 'A', cluster: 'c', zone: 'z' } }, routes)!;
    const b = findingFromAlert({ ...alert(), labels: { zone: 'z', alertname: 'A', cluster: 'c' } }, routes)!;
    expect(a.route!.subjectKey).toBe('[["cluster","c"],["zone","z"]]');
    expect(b.route!.subjectKey).toBe(a.route!.subjectKey);
  });

  // Incidents are keyed by (playbook, subject key): two different subjects must never share a key,
  // or their alerts would join one incident. Label values are free text and may hold ',' and '='.
  it('gives different subjects different keys, even when values contain , or =', () => {
    // the same route (subject labels cluster and node_or_service), two different nodes
    const one = { cluster: 'a,node_or_service=b', node_or_service: 'c' };
    const other = { cluster: 'a', node_or_service: 'b,node_or_service=c' };
    expect(subjectKey(one)).not.toBe(subjectKey(other));
  });
});

import { describe, expect, it } from 'vitest';
import { failed, ok, Plan } from './playbook-harness.ts';

describe('revocation-brake playbook', () => {
  it('pages; the incident is a person\'s from then on', () => {
    const plan = new Plan('revocation-brake', { alertname: 'UnusualDataRevocationActivity', severity: 'warning' });
    expect(plan.last.actions).toEqual([{ step: 'page', type: 'page', params: { summary: expect.stringContaining('safety brake is engaged'), severity: 'warning' } }]);
    expect(plan.last.incidentState).toBe('remediating');
    const r = plan.send(ok('page', { sent: false }));
    expect(r.to).toBe('escalated');
    expect(r.incidentState).toBe('escalated');
  });

  it('a failed page still leaves it escalated, with the reason', () => {
    const plan = new Plan('revocation-brake', { alertname: 'UnusualDataRevocationActivity' });
    expect(plan.send(failed('page', 'pager down')).evidence.escalationReason).toContain('pager down');
  });
});

describe('global subjects', () => {
  it('an alert routed with subjectLabels [] gets the empty subject: one incident per playbook', async () => {
    const { findingFromAlert } = await import('../../src/analyze/findings.ts');
    const { routesOf } = await import('../../src/loop.ts');
    const { pack } = await import('./playbook-harness.ts');
    const f = findingFromAlert(
      { status: 'firing', labels: { alertname: 'UnusualDataRevocationActivity', severity: 'warning' }, annotations: {}, startsAt: '2026-01-01T00:00:00Z', fingerprint: 'fp' },
      routesOf(pack()),
    );
    expect(f?.route).toEqual({ playbook: 'revocation-brake', subject: {}, subjectKey: '[]' });
  });
});

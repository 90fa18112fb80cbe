import { describe, expect, it } from 'vitest';
import { ok, Plan, timer } from './playbook-harness.ts';

const labels = { alertname: 'DataRevocationSLAViolation', severity: 'warning' };

describe('data-revocation-sla playbook', () => {
  it('retries each pending revocation with its own step (own Idempotency-Key), never a removal; reports to #charter-sre', () => {
    const plan = new Plan('data-revocation-sla', labels);
    expect(plan.last.actions).toEqual([{ step: 'read', type: 'charter.read', params: { path: '/api/revocations?status=pending' } }]);
    const r = plan.send(
      ok('read', {
        items: [
          { id: 'revocation-1', node_or_service: 'n1', reason: 'policy_violation', scope: 'metrics', status: 'pending' },
          { id: 'revocation-2', node_or_service: 'n2', reason: 'BAN_1YEAR violation', scope: 'all', status: 'pending' },
        ],
      }),
    );
    expect(r.actions).toEqual([
      { step: 'retry-revocation-1', type: 'charter.revocation', params: { node_or_service: 'n1', reason: 'policy_violation', scope: 'metrics', retry_of: 'revocation-1' } },
    ]);
    const report = plan.send(ok('retry-revocation-1'));
    expect(report.actions).toEqual([
      { step: 'report-sre', type: 'slack.message', params: { channel: '#charter-sre', text: 'DataRevocationSLAViolation: retried 1 pending revocation(s) (0 failed); 1 left for people (removals or over the limit).' } },
    ]);
    expect(plan.send(ok('report-sre')).to).toBe('verifying');
    plan.send(timer('verify-check-1'));
    expect(plan.send(ok('verify-1', { holds: true })).to).toBe('resolved');
  });

  it('escalates to #charter-sre when the SLA does not hold by the deadline', () => {
    const plan = new Plan('data-revocation-sla', labels);
    plan.send(ok('read', { items: [] }));
    plan.send(ok('report-sre'));
    const e = plan.send(timer('verify-deadline'));
    expect(e.to).toBe('escalated');
    expect(e.actions).toEqual([{ step: 'escalate-sre', type: 'slack.message', params: { channel: '#charter-sre', text: expect.stringContaining('ESCALATION DataRevocationSLAViolation') } }]);
  });
});

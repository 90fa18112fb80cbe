import { describe, expect, it } from 'vitest';
import { ok, failed, Plan, timer } from './playbook-harness.ts';

const labels = { alertname: 'PolicyLoadFailure', severity: 'critical' };

describe('policy-load-failure playbook', () => {
  it('reloads, verifies the load timestamp moved → resolved', () => {
    const plan = new Plan('policy-load-failure', labels);
    expect(plan.last.actions).toEqual([{ step: 'reload-policy', type: 'charter.policy_reload', params: { reason: 'mapek: PolicyLoadFailure' } }]);
    const v = plan.send(ok('reload-policy', { status: 201 }));
    expect(v.to).toBe('verifying');
    expect(v.timers).toEqual([{ name: 'verify-a1-check-1', delayMs: 15_000 }, { name: 'verify-a1-deadline', delayMs: 120_000 }]);
    expect(plan.send(timer('verify-a1-check-1')).actions[0]).toEqual({
      step: 'verify-a1-1',
      type: 'prometheus.verify',
      params: { query: '(time() - max(westworld_charter_policy_last_load_timestamp)) < bool 300', expect: 'positive' },
    });
    expect(plan.send(ok('verify-a1-1', { holds: true, value: 1 })).to).toBe('resolved');
  });

  it('a second reload is iteration 2 of the same step; after two failed reloads it pages', () => {
    const plan = new Plan('policy-load-failure', labels);
    plan.send(ok('reload-policy'));
    const retry = plan.send(timer('verify-a1-deadline'));
    expect(retry.to).toBe('acting');
    expect(retry.actions).toEqual([{ step: 'reload-policy', type: 'charter.policy_reload', params: { reason: 'mapek: PolicyLoadFailure' }, iteration: 2 }]);
    const v2 = plan.send(ok('reload-policy'));
    expect(v2.timers.map((t) => t.name)).toEqual(['verify-a2-check-1', 'verify-a2-deadline']);
    // A late answer of the first attempt's check no longer counts.
    expect(plan.send(ok('verify-a1-4', { holds: true })).to).toBe('verifying');
    const page = plan.send(timer('verify-a2-deadline'));
    expect(page.to).toBe('escalated');
    expect(page.actions).toEqual([{ step: 'page', type: 'page', params: { summary: expect.stringContaining('not verified after 2 attempts'), severity: 'critical' } }]);
  });

  it('a reload the Charter refuses escalates at once', () => {
    const plan = new Plan('policy-load-failure', labels);
    expect(plan.send(failed('reload-policy', 'budget for charter.policy_reload spent')).to).toBe('escalated');
  });
});

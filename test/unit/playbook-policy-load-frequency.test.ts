import { describe, expect, it } from 'vitest';
import { ok, Plan, resolvedFinding, timer } from './playbook-harness.ts';

describe('policy-load-frequency playbook', () => {
  it('notifies, holds for the cooldown, checks the load rate once', () => {
    const plan = new Plan('policy-load-frequency', { alertname: 'PolicyLoadFrequencyAnomaly' });
    expect(plan.last.actions[0]).toMatchObject({ step: 'notify-sre', type: 'slack.message', params: { channel: '#charter-sre' } });
    expect(plan.send(ok('notify-sre')).timers).toEqual([{ name: 'watch-deadline', delayMs: 3_600_000 }]);
    expect(plan.send(timer('watch-deadline')).actions[0]!.params).toEqual({
      query: 'sum(increase(westworld_charter_policy_load_duration_ms_count[1h])) <= bool 10',
      expect: 'positive',
    });
    expect(plan.send(ok('check', { holds: true })).to).toBe('resolved');
  });

  it('a resolved finding during the cooldown resolves the plan', () => {
    const plan = new Plan('policy-load-frequency', { alertname: 'PolicyLoadFrequencyAnomaly' });
    expect(plan.send(resolvedFinding()).to).toBe('resolved');
  });
});

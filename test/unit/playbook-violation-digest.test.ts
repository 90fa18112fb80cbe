import { describe, expect, it } from 'vitest';
import { added, failed, ok, Plan, resolvedFinding, timer } from './playbook-harness.ts';

const labels = { alertname: 'HighViolationInvestigationRate', severity: 'info' };

describe('violation-digest playbook', () => {
  it('one digest per incident: findings during the window are counted, one message at its end', () => {
    const plan = new Plan('violation-digest', labels);
    expect(plan.last.actions).toEqual([]);
    expect(plan.last.timers).toEqual([{ name: 'digest-window', delayMs: 300_000 }]);
    expect(plan.send(added('HighViolationInvestigationRate')).actions).toEqual([]);
    expect(plan.send(added('violation_rate_overall')).actions).toEqual([]);
    const d = plan.send(timer('digest-window'));
    expect(d.actions).toEqual([{ step: 'digest', type: 'slack.message', params: { channel: '#charter-security', text: expect.stringContaining('3 finding(s)') } }]);
    expect(d.actions[0]!.params.text).toContain('HighViolationInvestigationRate ×2, violation_rate_overall ×1');
    const w = plan.send(ok('digest'));
    expect(w.to).toBe('watching');
    expect(plan.send(added()).actions).toEqual([]);
    expect(plan.send(resolvedFinding()).to).toBe('resolved');
  });

  it('at the watch deadline the overall rate is checked once', () => {
    const plan = new Plan('violation-digest', labels);
    plan.send(timer('digest-window'));
    plan.send(ok('digest'));
    expect(plan.send(timer('watch-deadline')).actions[0]!.params).toEqual({ query: 'sum(rate(westworld_charter_violations_total[1m])) <= bool 5', expect: 'positive' });
    const e = plan.send(ok('check', { holds: false }));
    expect(e.to).toBe('escalated');
    expect(e.actions[0]).toMatchObject({ step: 'escalate', type: 'slack.message' });
  });

  it('a digest that cannot be sent escalates', () => {
    const plan = new Plan('violation-digest', labels);
    plan.send(timer('digest-window'));
    expect(plan.send(failed('digest', 'no webhook')).to).toBe('escalated');
  });
});

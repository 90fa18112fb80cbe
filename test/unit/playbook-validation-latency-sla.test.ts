import { describe, expect, it } from 'vitest';
import { failed, ok, Plan, resolvedFinding, timer } from './playbook-harness.ts';

const labels = { alertname: 'ValidationLatencySLAViolation', severity: 'warning' };

describe('validation-latency-sla playbook', () => {
  it('notifies #charter-sre and watches for 30 min; a resolved finding ends it', () => {
    const plan = new Plan('validation-latency-sla', labels);
    expect(plan.last.actions).toEqual([{ step: 'notify-sre', type: 'slack.message', params: { channel: '#charter-sre', text: expect.stringContaining('20 µs') } }]);
    const w = plan.send(ok('notify-sre'));
    expect(w.to).toBe('watching');
    expect(w.incidentState).toBe('verifying');
    expect(w.timers).toEqual([{ name: 'watch-deadline', delayMs: 1_800_000 }]);
    const r = plan.send(resolvedFinding('ValidationLatencySLAViolation'));
    expect(r.to).toBe('resolved');
    expect(r.actions).toEqual([]);
  });

  it('still breached after 30 min: checked once, then paged', () => {
    const plan = new Plan('validation-latency-sla', labels);
    plan.send(failed('notify-sre', 'no webhook'));
    expect(plan.state).toBe('watching');
    const c = plan.send(timer('watch-deadline'));
    expect(c.actions).toEqual([
      {
        step: 'check',
        type: 'prometheus.verify',
        params: { query: 'histogram_quantile(0.99, sum by (le) (rate(westworld_charter_metric_validation_latency_ns_bucket[5m]))) <= bool 20000', expect: 'positive' },
      },
    ]);
    const p = plan.send(ok('check', { holds: false, value: 0 }));
    expect(p.to).toBe('escalated');
    expect(p.actions).toEqual([{ step: 'page', type: 'page', params: { summary: expect.stringContaining('still breached after 30 min'), severity: 'warning' } }]);
  });

  it('recovered by the deadline (the resolution was missed): resolved without a page; unreachable Prometheus pages', () => {
    const a = new Plan('validation-latency-sla', labels);
    a.send(ok('notify-sre'));
    a.send(timer('watch-deadline'));
    expect(a.send(ok('check', { holds: true, value: 1 })).to).toBe('resolved');
    const b = new Plan('validation-latency-sla', labels);
    b.send(ok('notify-sre'));
    b.send(timer('watch-deadline'));
    expect(b.send(failed('check', 'unreachable')).actions[0]!.params.summary).toContain('recovery not confirmed');
  });
});

import { describe, expect, it } from 'vitest';
import { failed, ok, pack, Plan, timer } from './playbook-harness.ts';

const labels = { alertname: 'ForbiddenMetricSpike', node_or_service: 'node-3', metric_name: 'user_location', severity: 'warning' };
const subject = { node_or_service: 'node-3', metric_name: 'user_location' };

describe('forbidden-metric-spike playbook', () => {
  it('quarantines that metric of the node, notifies #charter-security, verifies attempts stopped → resolved', () => {
    const plan = new Plan('forbidden-metric-spike', labels, { subject });
    expect(plan.state).toBe('acting');
    expect(plan.last.incidentState).toBe('remediating');
    expect(plan.last.actions).toEqual([
      { step: 'quarantine', type: 'charter.quarantine', params: { node_or_service: 'node-3', metric_name: 'user_location', reason: expect.stringContaining('ForbiddenMetricSpike') } },
    ]);
    const notify = plan.send(ok('quarantine', { status: 201 }));
    expect(notify.actions).toEqual([{ step: 'notify-security', type: 'slack.message', params: { channel: '#charter-security', text: expect.stringContaining('user_location of node-3') } }]);
    const verifying = plan.send(ok('notify-security', { sent: false }));
    expect(verifying.to).toBe('verifying');
    expect(verifying.incidentState).toBe('verifying');
    expect(verifying.timers).toEqual([
      { name: 'verify-a1-check-1', delayMs: 30_000 },
      { name: 'verify-a1-deadline', delayMs: 300_000 },
    ]);
    const check = plan.send(timer('verify-a1-check-1'));
    expect(check.actions).toEqual([
      {
        step: 'verify-a1-1',
        type: 'prometheus.verify',
        params: { query: 'sum(increase(westworld_charter_forbidden_metric_attempts_total{node_or_service="node-3",metric_name="user_location"}[1m]))', expect: 'zero' },
      },
    ]);
    const again = plan.send(ok('verify-a1-1', { holds: false, value: 4 }));
    expect(again.timers).toEqual([{ name: 'verify-a1-check-2', delayMs: 15_000 }]);
    plan.send(timer('verify-a1-check-2'));
    // Prometheus unreachable: not evidence either way, checked again.
    expect(plan.send(failed('verify-a1-2', 'unreachable')).timers).toEqual([{ name: 'verify-a1-check-3', delayMs: 15_000 }]);
    plan.send(timer('verify-a1-check-3'));
    const done = plan.send(ok('verify-a1-3', { holds: true, value: 0 }));
    expect(done.to).toBe('resolved');
    expect(done.incidentState).toBe('resolved');
    expect(done.evidence.lastVerification).toMatchObject({ holds: true });
  });

  it('escalates (page) when attempts do not stop before the deadline', () => {
    const plan = new Plan('forbidden-metric-spike', labels, { subject });
    plan.send(ok('quarantine'));
    plan.send(ok('notify-security'));
    const res = plan.send(timer('verify-a1-deadline'));
    expect(res.to).toBe('escalated');
    expect(res.actions).toEqual([{ step: 'page', type: 'page', params: expect.objectContaining({ summary: expect.stringContaining('not verified after 1 attempt'), node_or_service: 'node-3' }) }]);
  });

  it('a failed notification does not stop the remediation; a failed quarantine escalates', () => {
    const a = new Plan('forbidden-metric-spike', labels, { subject });
    a.send(ok('quarantine'));
    expect(a.send(failed('notify-security', 'no webhook')).to).toBe('verifying');
    expect(a.context.failedOptional).toEqual(['notify-security: no webhook']);
    const b = new Plan('forbidden-metric-spike', labels, { subject });
    const res = b.send(failed('quarantine', 'HTTP 503'));
    expect(res.to).toBe('escalated');
    expect(res.actions[0]!.params.summary).toContain('action quarantine failed: HTTP 503');
  });

  it('ignores outcomes of other steps and stale verification timers', () => {
    const plan = new Plan('forbidden-metric-spike', labels, { subject });
    expect(plan.send(ok('notify-security')).actions).toEqual([]);
    expect(plan.state).toBe('acting');
    plan.send(ok('quarantine'));
    plan.send(ok('notify-security'));
    expect(plan.send(timer('verify-a2-check-1')).actions).toEqual([]);
    expect(plan.send(ok('verify-a2-0', { holds: true })).to).toBe('verifying');
  });

  it('the flap guard escalates a subject remediated again and again', () => {
    const plan = new Plan('forbidden-metric-spike', labels, { subject, recentIncidents: 3 });
    expect(plan.state).toBe('escalated');
    expect(plan.last.actions[0]!.params.summary).toContain('flapping');
  });

  it('reads its settings from playbooks.forbiddenMetricSpike, errors naming the field', () => {
    const plan = new Plan('forbidden-metric-spike', labels, { subject, pack: pack({ playbooks: { forbiddenMetricSpike: { verifyDeadline: '9m', channel: '#sec2' } } }) });
    plan.send(ok('quarantine'));
    expect(plan.last.actions[0]!.params.channel).toBe('#sec2');
    expect(plan.send(ok('notify-security')).timers[1]).toEqual({ name: 'verify-a1-deadline', delayMs: 540_000 });
    const bad = pack({ playbooks: { forbiddenMetricSpike: { verifyDeadline: 'soon' } } });
    expect(() => new Plan('forbidden-metric-spike', labels, { subject, pack: bad })).toThrow(/playbooks\.forbiddenMetricSpike\.verifyDeadline: expected a duration/);
  });
});

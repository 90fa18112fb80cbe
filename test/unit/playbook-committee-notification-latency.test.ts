import { describe, expect, it } from 'vitest';
import { ok, Plan, timer } from './playbook-harness.ts';

describe('committee-notification-latency playbook', () => {
  it('fails over to PagerDuty (recorded as an action), verifies the SLA, announces the end of the failover', () => {
    const plan = new Plan('committee-notification-latency', { alertname: 'CommitteeNotificationLatencySLA' });
    expect(plan.last.actions).toEqual([
      { step: 'failover-pagerduty', type: 'pagerduty.event', params: expect.objectContaining({ event_action: 'trigger', component: 'committee-notifications' }) },
    ]);
    expect(plan.send(ok('failover-pagerduty')).actions[0]).toMatchObject({ step: 'notify-sre', type: 'slack.message', params: { channel: '#charter-sre' } });
    plan.send(ok('notify-sre'));
    const check = plan.send(timer('verify-a1-check-1'));
    expect(check.actions[0]!.params).toEqual({
      query:
        '(sum(increase(westworld_charter_committee_notification_latency_ms_bucket{le=~"1000(\\\\.0)?"}[5m])) / sum(increase(westworld_charter_committee_notification_latency_ms_count[5m]))) >= bool 0.99',
      expect: 'positive',
    });
    const done = plan.send(ok('verify-a1-1', { holds: true }));
    expect(done.to).toBe('resolved');
    expect(done.actions).toEqual([{ step: 'failover-ended', type: 'slack.message', params: expect.objectContaining({ channel: '#charter-sre' }) }]);
  });

  it('escalates when the SLA does not hold by the deadline', () => {
    const plan = new Plan('committee-notification-latency', { alertname: 'CommitteeNotificationLatencySLA' });
    plan.send(ok('failover-pagerduty'));
    plan.send(ok('notify-sre'));
    expect(plan.send(timer('verify-a1-deadline')).actions[0]).toMatchObject({ step: 'page', type: 'page' });
  });
});

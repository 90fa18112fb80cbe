// Every declared transition of the committee-notification-latency machine (the remediate-verify
// family), asserted one at a time (see transitions-critical-violation.test.ts), with the exact
// commands the shipped pack makes it send. maxAttempts is fixed at 1 by its input:
// retrying --canRetry--> acting is unreachable (a finding).
import { planInput, playbookOf, remediateVerifySuite, type Escalate } from './transitions-helpers.ts';

const playbook = playbookOf('committee-notification-latency');
const LABELS = { alertname: 'CommitteeNotificationLatencySLA', severity: 'warning' };
const M = 'westworld_charter_committee_notification_latency_ms';

const escalate: Escalate = (reason) => ({ step: 'page', type: 'page', params: { summary: `CommitteeNotificationLatencySLA not recovered: ${reason}`, severity: 'warning' } });

remediateVerifySuite({
  playbook,
  input: (recentIncidents = 0) => planInput(playbook, LABELS, { recentIncidents }),
  subject: 'committee notifications',
  flapWindow: '6h',
  steps: [
    {
      step: 'failover-pagerduty',
      type: 'pagerduty.event',
      params: {
        event_action: 'trigger',
        severity: 'warning',
        summary: 'Committee notifications slower than the 1 s SLA: failing over to PagerDuty (recipients audit-committee)',
        component: 'committee-notifications',
        alertname: 'CommitteeNotificationLatencySLA',
      },
    },
    { step: 'notify-sre', type: 'slack.message', params: { channel: '#charter-sre', text: 'CommitteeNotificationLatencySLA: committee notifications failed over to PagerDuty until the SLA holds.' } },
  ],
  optional: 1,
  verify: {
    query: `(sum(increase(${M}_bucket{le=~"1000(\\\\.0)?"}[5m])) / sum(increase(${M}_count[5m]))) >= bool 0.99`,
    expect: 'positive',
    firstCheckMs: 60_000,
    intervalMs: 30_000,
    deadlineMs: 1_800_000,
  },
  escalate,
  onResolved: { step: 'failover-ended', type: 'slack.message', params: { channel: '#charter-sre', text: 'CommitteeNotificationLatencySLA: the SLA holds again; the PagerDuty failover ended.' } },
});

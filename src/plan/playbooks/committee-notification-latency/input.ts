/** How the pack starts a committee-notification-latency plan: `playbooks.committeeNotificationLatency` of pack.yaml. */
import { z } from 'zod';
import type { Pack } from '../../../config.ts';
import type { RemediateVerifyInput } from '../charter-common/remediate-verify.ts';
import { duration, ms, playbookSettings, routeFields, verifyFields } from '../charter-common/settings.ts';
import type { PlanStart } from '../types.ts';

/** The settings, with their defaults (CHARTER.md: SLA < 1 s for 99% of notifications). */
export const CommitteeNotificationLatencySettings = z.object({
  ...routeFields('CommitteeNotificationLatencySLA'),
  ...verifyFields,
  verifyWindow: duration.default('5m'),
  verifyFirstCheck: duration.default('1m'),
  verifyInterval: duration.default('30s'),
  verifyDeadline: duration.default('30m'),
  channel: z.string().min(1).default('#charter-sre'),
});

const KEY = 'committeeNotificationLatency';

/** Alerts that open this playbook; the subject is global. */
export function committeeNotificationLatencyRoute(pack: Pack): { alertnames: string[]; subjectLabels: string[] } {
  const s = playbookSettings(pack, KEY, CommitteeNotificationLatencySettings);
  return { alertnames: s.alertnames, subjectLabels: s.subjectLabels };
}

/** The input a new plan starts from. */
export function committeeNotificationLatencyInput(pack: Pack, start: PlanStart): RemediateVerifyInput {
  const s = playbookSettings(pack, KEY, CommitteeNotificationLatencySettings);
  const m = 'westworld_charter_committee_notification_latency_ms';
  const w = s.verifyWindow;
  return {
    subject: 'committee notifications',
    steps: [
      {
        // The failover, recorded as an action: the committee is reached through PagerDuty meanwhile.
        step: 'failover-pagerduty',
        type: 'pagerduty.event',
        params: {
          event_action: 'trigger',
          severity: 'warning',
          summary: `Committee notifications slower than the 1 s SLA: failing over to PagerDuty (recipients ${pack.committee.recipients.join(', ')})`,
          component: 'committee-notifications',
          alertname: start.labels.alertname ?? 'CommitteeNotificationLatencySLA',
        },
      },
      { step: 'notify-sre', type: 'slack.message', optional: true, params: { channel: s.channel, text: 'CommitteeNotificationLatencySLA: committee notifications failed over to PagerDuty until the SLA holds.' } },
    ],
    verification: {
      // At least 99% of notifications within the le="1000" bucket; 0/0 (no notifications) is not a pass.
      query: `(sum(increase(${m}_bucket{le=~"1000(\\\\.0)?"}[${w}])) / sum(increase(${m}_count[${w}]))) >= bool 0.99`,
      expect: 'positive',
      firstCheckMs: ms(s.verifyFirstCheck),
      intervalMs: ms(s.verifyInterval),
      deadlineMs: ms(s.verifyDeadline),
    },
    maxAttempts: 1,
    escalation: { step: 'page', type: 'page', params: { summary: 'CommitteeNotificationLatencySLA not recovered', severity: 'warning' } },
    onResolved: { step: 'failover-ended', type: 'slack.message', params: { channel: s.channel, text: 'CommitteeNotificationLatencySLA: the SLA holds again; the PagerDuty failover ended.' } },
    flap: { max: pack.flapGuard.max, window: pack.flapGuard.window, recent: start.recentIncidents },
  };
}

/** How the pack starts a forbidden-metric-spike plan: `playbooks.forbiddenMetricSpike` of pack.yaml. */
import { z } from 'zod';
import type { Pack } from '../../../config.ts';
import { escapePromQL } from '../critical-violation/machine.ts';
import type { RemediateVerifyInput } from '../charter-common/remediate-verify.ts';
import { duration, ms, playbookSettings, routeFields, verifyFields } from '../charter-common/settings.ts';
import type { PlanStart } from '../types.ts';

/** The settings, with their defaults (CHARTER.md). */
export const ForbiddenMetricSpikeSettings = z.object({
  ...routeFields('ForbiddenMetricSpike', ['node_or_service', 'metric_name']),
  ...verifyFields,
  verifyWindow: duration.default('1m'),
  channel: z.string().min(1).default('#charter-security'),
});

const KEY = 'forbiddenMetricSpike';

/** Alerts that open this playbook, and the labels naming its subject. */
export function forbiddenMetricSpikeRoute(pack: Pack): { alertnames: string[]; subjectLabels: string[] } {
  const s = playbookSettings(pack, KEY, ForbiddenMetricSpikeSettings);
  return { alertnames: s.alertnames, subjectLabels: s.subjectLabels };
}

/** The input a new plan starts from. */
export function forbiddenMetricSpikeInput(pack: Pack, start: PlanStart): RemediateVerifyInput {
  const s = playbookSettings(pack, KEY, ForbiddenMetricSpikeSettings);
  const node = start.subject.node_or_service ?? start.labels.node_or_service ?? 'unknown';
  const metric = start.subject.metric_name ?? start.labels.metric_name;
  const what = metric ? `${metric} of ${node}` : node;
  const selector = `node_or_service="${escapePromQL(node)}"${metric ? `,metric_name="${escapePromQL(metric)}"` : ''}`;
  return {
    subject: what,
    steps: [
      {
        step: 'quarantine',
        type: 'charter.quarantine',
        // Without a metric name (a sensor that counts per node) the whole node is quarantined.
        params: { node_or_service: node, ...(metric ? { metric_name: metric } : {}), reason: `ForbiddenMetricSpike: forbidden collection attempts at ${what}` },
      },
      {
        step: 'notify-security',
        type: 'slack.message',
        optional: true,
        params: { channel: s.channel, text: `ForbiddenMetricSpike: quarantined ${what} after more than 3 forbidden attempts in 1 min; verifying the attempts stop.` },
      },
    ],
    verification: {
      query: `sum(increase(westworld_charter_forbidden_metric_attempts_total{${selector}}[${s.verifyWindow}]))`,
      expect: 'zero',
      firstCheckMs: ms(s.verifyFirstCheck),
      intervalMs: ms(s.verifyInterval),
      deadlineMs: ms(s.verifyDeadline),
    },
    maxAttempts: 1,
    escalation: {
      step: 'page',
      type: 'page',
      params: { summary: `ForbiddenMetricSpike at ${what} escalated`, severity: 'warning', node_or_service: node, ...(metric ? { metric_name: metric } : {}) },
    },
    flap: { max: pack.flapGuard.max, window: pack.flapGuard.window, recent: start.recentIncidents },
  };
}

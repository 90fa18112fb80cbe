/** How the pack starts a validation-latency-sla plan: `playbooks.validationLatencySla` of pack.yaml. */
import { z } from 'zod';
import type { Pack } from '../../../config.ts';
import type { NotifyWatchInput } from '../charter-common/notify-watch.ts';
import { duration, ms, playbookSettings, routeFields } from '../charter-common/settings.ts';
import type { PlanStart } from '../types.ts';

/** The settings, with their defaults (CHARTER.md: p99 above 20 µs; page if it lasts 30 min). */
export const ValidationLatencySlaSettings = z.object({
  ...routeFields('ValidationLatencySLAViolation'),
  channel: z.string().min(1).default('#charter-sre'),
  pageAfter: duration.default('30m'),
  slaNs: z.number().positive().default(20_000),
  checkWindow: duration.default('5m'),
});

const KEY = 'validationLatencySla';

/** Alerts that open this playbook; the subject is global. */
export function validationLatencySlaRoute(pack: Pack): { alertnames: string[]; subjectLabels: string[] } {
  const s = playbookSettings(pack, KEY, ValidationLatencySlaSettings);
  return { alertnames: s.alertnames, subjectLabels: s.subjectLabels };
}

/** The input a new plan starts from. */
export function validationLatencySlaInput(pack: Pack, start: PlanStart): NotifyWatchInput {
  const s = playbookSettings(pack, KEY, ValidationLatencySlaSettings);
  const alert = start.labels.alertname ?? 'ValidationLatencySLAViolation';
  return {
    subject: 'metric validation latency',
    notifications: [
      { step: 'notify-sre', type: 'slack.message', params: { channel: s.channel, text: `${alert}: p99 metric validation latency above the ${s.slaNs / 1000} µs SLA; paging if it lasts ${s.pageAfter}.` } },
    ],
    watchMs: ms(s.pageAfter),
    check: {
      query: `histogram_quantile(0.99, sum by (le) (rate(westworld_charter_metric_validation_latency_ns_bucket[${s.checkWindow}]))) <= bool ${s.slaNs}`,
      expect: 'positive',
    },
    escalation: { step: 'page', type: 'page', params: { summary: `ValidationLatencySLAViolation lasted ${s.pageAfter}`, severity: 'warning' } },
  };
}

/**
 * How the pack starts a policy-load-frequency plan: `playbooks.policyLoadFrequency` of pack.yaml.
 * The cooldown of mapek's own reloads is the open incident of this playbook (see the report:
 * the loop must refuse `charter.policy_reload` while it is open).
 */
import { z } from 'zod';
import type { Pack } from '../../../config.ts';
import type { NotifyWatchInput } from '../charter-common/notify-watch.ts';
import { duration, ms, playbookSettings, routeFields } from '../charter-common/settings.ts';
import type { PlanStart } from '../types.ts';

/** The settings, with their defaults (CHARTER.md: more than 10 loads per hour). */
export const PolicyLoadFrequencySettings = z.object({
  ...routeFields('PolicyLoadFrequencyAnomaly'),
  channel: z.string().min(1).default('#charter-sre'),
  cooldown: duration.default('1h'),
  maxLoadsPerHour: z.number().int().min(1).default(10),
});

const KEY = 'policyLoadFrequency';

/** Alerts that open this playbook; the subject is global. */
export function policyLoadFrequencyRoute(pack: Pack): { alertnames: string[]; subjectLabels: string[] } {
  const s = playbookSettings(pack, KEY, PolicyLoadFrequencySettings);
  return { alertnames: s.alertnames, subjectLabels: s.subjectLabels };
}

/** The input a new plan starts from. */
export function policyLoadFrequencyInput(pack: Pack, start: PlanStart): NotifyWatchInput {
  const s = playbookSettings(pack, KEY, PolicyLoadFrequencySettings);
  const alert = start.labels.alertname ?? 'PolicyLoadFrequencyAnomaly';
  return {
    subject: 'policy load frequency',
    notifications: [
      {
        step: 'notify-sre',
        type: 'slack.message',
        params: { channel: s.channel, text: `${alert}: the Charter policy loaded more than ${s.maxLoadsPerHour} times in an hour; mapek holds its own policy reloads for ${s.cooldown}.` },
      },
    ],
    watchMs: ms(s.cooldown),
    check: { query: `sum(increase(westworld_charter_policy_load_duration_ms_count[1h])) <= bool ${s.maxLoadsPerHour}`, expect: 'positive' },
    escalation: { step: 'page', type: 'page', params: { summary: 'PolicyLoadFrequencyAnomaly persists', severity: 'warning' } },
  };
}

/** How the pack starts a violation-digest plan: `playbooks.violationDigest` of pack.yaml. */
import { z } from 'zod';
import type { Pack } from '../../../config.ts';
import { duration, ms, playbookSettings, routeFields } from '../charter-common/settings.ts';
import type { PlanStart } from '../types.ts';
import type { ViolationDigestInput } from './machine.ts';

/** The settings, with their defaults (CHARTER.md: more than 5 violations per second overall). */
export const ViolationDigestSettingsSchema = z.object({
  ...routeFields('HighViolationInvestigationRate'),
  window: duration.default('5m'),
  watch: duration.default('30m'),
  channel: z.string().min(1).default('#charter-security'),
  maxRatePerS: z.number().positive().default(5),
});

const KEY = 'violationDigest';

/** Alerts that open this playbook; the subject is global. */
export function violationDigestRoute(pack: Pack): { alertnames: string[]; subjectLabels: string[] } {
  const s = playbookSettings(pack, KEY, ViolationDigestSettingsSchema);
  return { alertnames: s.alertnames, subjectLabels: s.subjectLabels };
}

/** The input a new plan starts from. */
export function violationDigestInput(pack: Pack, start: PlanStart): ViolationDigestInput {
  const s = playbookSettings(pack, KEY, ViolationDigestSettingsSchema);
  return {
    alertname: start.labels.alertname ?? 'HighViolationInvestigationRate',
    labels: start.labels,
    settings: { windowMs: ms(s.window), watchMs: ms(s.watch), channel: s.channel, maxRatePerS: s.maxRatePerS },
  };
}

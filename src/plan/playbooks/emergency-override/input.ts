/** How the pack starts an emergency-override plan: `playbooks.emergencyOverride` of pack.yaml. */
import { z } from 'zod';
import type { Pack } from '../../../config.ts';
import { duration, ms, playbookSettings, routeFields } from '../charter-common/settings.ts';
import type { PlanStart } from '../types.ts';
import type { EmergencyOverrideInput } from './machine.ts';

/** The settings, with their defaults (CHARTER.md: without an acknowledgement in 15 min, revoke, behind an approval). */
export const EmergencyOverrideSettingsSchema = z.object({
  ...routeFields('EmergencyOverrideStayingActive'),
  ackWindow: duration.default('15m'),
  revokeQuorum: z.number().int().min(1).default(1),
  revokeApprovalDeadline: duration.default('30m'),
});

const KEY = 'emergencyOverride';

/** Alerts that open this playbook; the subject is global. */
export function emergencyOverrideRoute(pack: Pack): { alertnames: string[]; subjectLabels: string[] } {
  const s = playbookSettings(pack, KEY, EmergencyOverrideSettingsSchema);
  return { alertnames: s.alertnames, subjectLabels: s.subjectLabels };
}

/** The input a new plan starts from. */
export function emergencyOverrideInput(pack: Pack, start: PlanStart): EmergencyOverrideInput {
  const s = playbookSettings(pack, KEY, EmergencyOverrideSettingsSchema);
  return {
    alertname: start.labels.alertname ?? 'EmergencyOverrideStayingActive',
    settings: {
      ackWindowMs: ms(s.ackWindow),
      revokeQuorum: s.revokeQuorum,
      revokeApprovalDeadlineMs: ms(s.revokeApprovalDeadline),
      recipients: pack.committee.recipients,
    },
  };
}

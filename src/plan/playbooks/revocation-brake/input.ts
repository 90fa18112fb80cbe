/** How the pack starts a revocation-brake plan: `playbooks.revocationBrake` of pack.yaml. */
import { z } from 'zod';
import type { Pack } from '../../../config.ts';
import { playbookSettings, routeFields } from '../charter-common/settings.ts';
import type { PlanStart } from '../types.ts';
import type { RevocationBrakeInput } from './machine.ts';

/** The settings, with their defaults. */
export const RevocationBrakeSettings = z.object({ ...routeFields('UnusualDataRevocationActivity') });

const KEY = 'revocationBrake';

/** Alerts that open this playbook; the subject is global. */
export function revocationBrakeRoute(pack: Pack): { alertnames: string[]; subjectLabels: string[] } {
  const s = playbookSettings(pack, KEY, RevocationBrakeSettings);
  return { alertnames: s.alertnames, subjectLabels: s.subjectLabels };
}

/** The input a new plan starts from. */
export function revocationBrakeInput(_pack: Pack, start: PlanStart): RevocationBrakeInput {
  return { alertname: start.labels.alertname ?? 'UnusualDataRevocationActivity', severity: start.labels.severity ?? 'warning' };
}

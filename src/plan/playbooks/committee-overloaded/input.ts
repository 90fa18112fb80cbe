/** How the pack starts a committee-overloaded plan: `playbooks.committeeOverloaded` of pack.yaml. */
import { z } from 'zod';
import type { Pack } from '../../../config.ts';
import type { FanoutVerifyInput } from '../charter-common/fanout-verify.ts';
import { duration, ms, playbookSettings, routeFields, verifyFields } from '../charter-common/settings.ts';
import type { PlanStart } from '../types.ts';

/** The settings, with their defaults (CHARTER.md: more than 10 violations under investigation). */
export const CommitteeOverloadedSettings = z.object({
  ...routeFields('CommitteeOverloaded'),
  ...verifyFields,
  verifyFirstCheck: duration.default('1m'),
  verifyInterval: duration.default('30s'),
  verifyDeadline: duration.default('15m'),
  chair: z.string().min(1).default('committee-chair'),
  /** Investigations of these Charter severities may be held; the others are critical. */
  nonCritical: z.array(z.string().min(1)).default(['WARNING', 'SUSPENSION']),
  maxHolds: z.number().int().min(0).default(20),
  threshold: z.number().int().min(0).default(10),
});

const KEY = 'committeeOverloaded';

/** Alerts that open this playbook; the subject is global. */
export function committeeOverloadedRoute(pack: Pack): { alertnames: string[]; subjectLabels: string[] } {
  const s = playbookSettings(pack, KEY, CommitteeOverloadedSettings);
  return { alertnames: s.alertnames, subjectLabels: s.subjectLabels };
}

/** The input a new plan starts from. */
export function committeeOverloadedInput(pack: Pack, start: PlanStart): FanoutVerifyInput {
  const s = playbookSettings(pack, KEY, CommitteeOverloadedSettings);
  const alert = start.labels.alertname ?? 'CommitteeOverloaded';
  return {
    subject: 'the audit committee',
    before: [
      {
        step: 'notify-chair',
        type: 'charter.notification',
        params: {
          severity: 'WARNING',
          summary: `${alert}: more than ${s.threshold} violations under investigation; mapek holds non-critical (${s.nonCritical.join(', ')}) investigations`,
          recipients: [s.chair],
        },
      },
    ],
    readPath: '/api/investigations?status=open',
    select: [{ field: 'severity', in: s.nonCritical }],
    maxTargets: s.maxHolds,
    perRecord: { stepPrefix: 'hold', type: 'charter.investigation_hold', idParam: 'id', params: { by: 'mapek', reason: `${alert}: non-critical investigation held while the committee is overloaded` } },
    after: [],
    verification: {
      query: `sum(westworld_charter_violations_under_investigation) <= bool ${s.threshold}`,
      expect: 'positive',
      firstCheckMs: ms(s.verifyFirstCheck),
      intervalMs: ms(s.verifyInterval),
      deadlineMs: ms(s.verifyDeadline),
    },
    escalation: { step: 'page', type: 'page', params: { summary: 'CommitteeOverloaded persists', severity: 'warning' } },
  };
}

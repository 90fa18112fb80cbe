/** How the pack starts a policy-load-failure plan: `playbooks.policyLoadFailure` of pack.yaml. */
import { z } from 'zod';
import type { Pack } from '../../../config.ts';
import type { RemediateVerifyInput } from '../charter-common/remediate-verify.ts';
import { duration, ms, playbookSettings, routeFields, verifyFields } from '../charter-common/settings.ts';
import type { PlanStart } from '../types.ts';

/** The settings, with their defaults (CHARTER.md: after 2 failed reloads, page). */
export const PolicyLoadFailureSettings = z.object({
  ...routeFields('PolicyLoadFailure'),
  ...verifyFields,
  verifyFirstCheck: duration.default('15s'),
  verifyDeadline: duration.default('2m'),
  /** The policy counts as loaded when its last load is at most this old. */
  freshWithin: duration.default('5m'),
  reloads: z.number().int().min(1).max(10).default(2),
});

const KEY = 'policyLoadFailure';

/** Alerts that open this playbook; the subject is global (the Charter's one policy). */
export function policyLoadFailureRoute(pack: Pack): { alertnames: string[]; subjectLabels: string[] } {
  const s = playbookSettings(pack, KEY, PolicyLoadFailureSettings);
  return { alertnames: s.alertnames, subjectLabels: s.subjectLabels };
}

/** The input a new plan starts from. */
export function policyLoadFailureInput(pack: Pack, start: PlanStart): RemediateVerifyInput {
  const s = playbookSettings(pack, KEY, PolicyLoadFailureSettings);
  return {
    subject: 'the Charter policy',
    steps: [{ step: 'reload-policy', type: 'charter.policy_reload', params: { reason: `mapek: ${start.labels.alertname ?? 'PolicyLoadFailure'}` }, repeat: true }],
    verification: {
      // `bool` makes "fresh" 1 and "stale" 0, so a moved timestamp is a positive answer and no data never passes.
      query: `(time() - max(westworld_charter_policy_last_load_timestamp)) < bool ${ms(s.freshWithin) / 1000}`,
      expect: 'positive',
      firstCheckMs: ms(s.verifyFirstCheck),
      intervalMs: ms(s.verifyInterval),
      deadlineMs: ms(s.verifyDeadline),
    },
    maxAttempts: s.reloads,
    escalation: { step: 'page', type: 'page', params: { summary: 'PolicyLoadFailure: the Charter policy did not load', severity: 'critical' } },
    flap: { max: pack.flapGuard.max, window: pack.flapGuard.window, recent: start.recentIncidents },
  };
}

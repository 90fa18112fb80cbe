/** How the pack starts a data-revocation-sla plan: `playbooks.dataRevocationSla` of pack.yaml. */
import { z } from 'zod';
import type { Pack } from '../../../config.ts';
import type { FanoutVerifyInput } from '../charter-common/fanout-verify.ts';
import { duration, ms, playbookSettings, routeFields, verifyFields } from '../charter-common/settings.ts';
import type { PlanStart } from '../types.ts';

/** The settings, with their defaults (CHARTER.md: p99 revocation latency under 5 s). */
export const DataRevocationSlaSettings = z.object({
  ...routeFields('DataRevocationSLAViolation'),
  ...verifyFields,
  verifyWindow: duration.default('5m'),
  verifyFirstCheck: duration.default('1m'),
  verifyInterval: duration.default('30s'),
  verifyDeadline: duration.default('15m'),
  channel: z.string().min(1).default('#charter-sre'),
  /** Retries per incident; keep it within the pack's charter.revocation budget. */
  maxRetries: z.number().int().min(0).default(5),
});

const KEY = 'dataRevocationSla';

/** Alerts that open this playbook; the subject is global. */
export function dataRevocationSlaRoute(pack: Pack): { alertnames: string[]; subjectLabels: string[] } {
  const s = playbookSettings(pack, KEY, DataRevocationSlaSettings);
  return { alertnames: s.alertnames, subjectLabels: s.subjectLabels };
}

/** The input a new plan starts from. */
export function dataRevocationSlaInput(pack: Pack, start: PlanStart): FanoutVerifyInput {
  const s = playbookSettings(pack, KEY, DataRevocationSlaSettings);
  const alert = start.labels.alertname ?? 'DataRevocationSLAViolation';
  const m = 'westworld_charter_data_revocation_latency_ms';
  const w = s.verifyWindow;
  return {
    subject: 'data revocations',
    before: [],
    readPath: '/api/revocations?status=pending',
    // A removal (scope "all") needs the committee's approvals: never re-issued on mapek's own.
    select: [{ field: 'scope', notIn: ['all'] }],
    maxTargets: s.maxRetries,
    perRecord: { stepPrefix: 'retry', type: 'charter.revocation', copy: ['node_or_service', 'reason', 'scope'], idParam: 'retry_of', params: {} },
    after: [
      {
        step: 'report-sre',
        type: 'slack.message',
        params: { channel: s.channel, text: `${alert}: retried {acted} pending revocation(s) ({failed} failed); {skipped} left for people (removals or over the limit).` },
      },
    ],
    verification: {
      query: `(sum(increase(${m}_bucket{le=~"5000(\\\\.0)?"}[${w}])) / sum(increase(${m}_count[${w}]))) >= bool 0.99`,
      expect: 'positive',
      firstCheckMs: ms(s.verifyFirstCheck),
      intervalMs: ms(s.verifyInterval),
      deadlineMs: ms(s.verifyDeadline),
    },
    escalation: { step: 'escalate-sre', type: 'slack.message', params: { channel: s.channel, text: `ESCALATION ${alert}: data revocations still slower than the 5 s SLA` } },
  };
}

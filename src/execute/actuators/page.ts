/** Pages a person: a PagerDuty Events v2 style POST to MAPEK_PAGER_URL, when one is configured. */
import type { Actuator } from './types.ts';
import { callJson } from './http.ts';

/** Without a pager URL the page is recorded as not sent, with the reason. */
export const pageActuator: Actuator = async (action, ctx) => {
  if (!ctx.pagerUrl) return { sent: false, reason: 'no pager configured (set MAPEK_PAGER_URL)', summary: action.params.summary };
  const body = {
    routing_key: 'mapek',
    event_action: 'trigger',
    dedup_key: action.idempotencyKey,
    payload: { summary: action.params.summary, severity: action.params.severity ?? 'critical', source: 'mapek', custom_details: action.params },
  };
  const { status, body: response } = await callJson('POST', ctx.pagerUrl, body, { idempotencyKey: action.idempotencyKey, timeoutMs: ctx.timeoutMs });
  return { sent: true, status, response };
};

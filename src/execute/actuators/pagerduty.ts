/**
 * PagerDuty Events API v2 (`pagerduty.event`): `{routing_key, event_action, dedup_key, payload}`
 * POSTed to the events endpoint.
 *
 * Idempotent at PagerDuty: a trigger's dedup_key is the action's idempotency key, so a retry after
 * a timeout (or a worker killed mid-call) joins the alert it already opened instead of opening
 * another. A resolve or acknowledge must name the alert: `params.dedup_key`, the idempotency key of
 * the trigger action (knowledge/store.ts `actionIdentity(incident, step, iteration)`); repeating
 * one is harmless.
 *
 * Answers: 2xx (PagerDuty says 202) sent; 429, 408, 5xx, timeouts and connection errors retryable
 * (Retry-After honoured when present); 400 (invalid event) and any other 4xx or a redirect
 * permanent.
 *
 * The routing key is a secret: it never appears in an outcome or an error. Without a routing key
 * configured the event is recorded as not sent, as page.ts does.
 *
 * Params: `event_action` (trigger | acknowledge | resolve, default trigger), `summary` (or `text`),
 * `severity` (critical | error | warning | info; anything else is sent as critical and kept in
 * custom_details), `source`, `component`, `group`, `class`, `custom_details` (default: the other
 * params), `dedup_key` (resolve and acknowledge only).
 */
import { PermanentActionError } from '../../errors.ts';
import type { ActionRecord } from '../../knowledge/store.ts';
import type { PagerDutySettings } from '../outbound.ts';
import { redact, redactOutcome } from '../outbound.ts';
import { sendOutbound } from './http-call.ts';
import type { Actuator, ActuatorContext } from './types.ts';

/** The public Events API v2 endpoint. */
export const PAGERDUTY_EVENTS_URL = 'https://events.pagerduty.com/v2/enqueue';

/** The context as the PagerDuty actuator reads it (ActuatorContext gains `pagerduty` when it is wired). */
export type PagerDutyContext = ActuatorContext & { pagerduty?: PagerDutySettings };

const SEVERITIES = new Set(['critical', 'error', 'warning', 'info']);
const ACTIONS = new Set(['trigger', 'acknowledge', 'resolve']);
const KNOWN = new Set(['event_action', 'summary', 'text', 'severity', 'source', 'component', 'group', 'class', 'custom_details', 'dedup_key']);

/** The Events v2 body for an action (no I/O). */
export function pagerDutyEvent(action: ActionRecord, settings: PagerDutySettings): Record<string, unknown> {
  const p = action.params;
  const eventAction = String(p.event_action ?? 'trigger');
  if (!ACTIONS.has(eventAction)) throw new PermanentActionError(`pagerduty.event: event_action ${eventAction.slice(0, 20)} is not trigger, acknowledge or resolve`);
  if (eventAction !== 'trigger') {
    if (typeof p.dedup_key !== 'string' || p.dedup_key === '') {
      throw new PermanentActionError(`pagerduty.event: ${eventAction} needs params.dedup_key (the idempotency key of the trigger action)`);
    }
    return { routing_key: settings.routingKey, event_action: eventAction, dedup_key: p.dedup_key };
  }
  const severity = String(p.severity ?? 'critical');
  const rest = Object.fromEntries(Object.entries(p).filter(([k]) => !KNOWN.has(k)));
  const details = {
    ...((typeof p.custom_details === 'object' && p.custom_details !== null ? p.custom_details : rest) as Record<string, unknown>),
    ...(SEVERITIES.has(severity) ? {} : { mapek_severity: severity }),
    incident: action.incidentId,
    step: action.step,
    idempotency_key: action.idempotencyKey,
  };
  const summary = String(p.summary ?? p.text ?? `mapek: ${action.type} for incident ${action.incidentId}`).slice(0, 1024);
  const payload: Record<string, unknown> = {
    summary,
    severity: SEVERITIES.has(severity) ? severity : 'critical',
    source: String(p.source ?? settings.source ?? 'mapek'),
    // Details are copied from params: mask anything secret-looking before it leaves.
    custom_details: redact(details, { secrets: [settings.routingKey] }),
  };
  for (const k of ['component', 'group', 'class'] as const) if (p[k] !== undefined) payload[k] = String(p[k]);
  return { routing_key: settings.routingKey, event_action: 'trigger', dedup_key: action.idempotencyKey, payload, client: 'mapek' };
}

/** Sends the action's event, reading `ctx.pagerduty`. */
export const pagerDutyActuator: Actuator = async (action, ctx) => {
  const settings = (ctx as PagerDutyContext).pagerduty;
  if (!settings || !settings.routingKey) {
    return redactOutcome({ sent: false, reason: 'no PagerDuty routing key configured (set MAPEK_PAGERDUTY_ROUTING_KEY)', idempotencyKey: action.idempotencyKey });
  }
  const secrets = [settings.routingKey];
  const event = pagerDutyEvent(action, settings);
  let url: URL;
  try {
    url = new URL(settings.eventsUrl ?? PAGERDUTY_EVENTS_URL);
  } catch {
    throw new PermanentActionError('pagerduty.event: the configured events URL is not valid');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new PermanentActionError('pagerduty.event: the configured events URL is not http(s)');
  const res = await sendOutbound({
    method: 'POST',
    url,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(event),
    timeoutMs: ctx.timeoutMs,
    label: `PagerDuty events API (${url.host})`,
    secrets,
    retry409: false,
  });
  return redactOutcome(
    { sent: true, status: res.status, eventAction: event.event_action, dedupKey: event.dedup_key, response: res.json !== undefined ? res.json : res.text.slice(0, 500) },
    secrets,
  );
};

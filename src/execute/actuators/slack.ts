/**
 * Slack incoming webhooks (`slack.message`): one POST of `{text, ...}` to the webhook configured for
 * `params.channel` (e.g. `#charter-security`).
 *
 * Answers: 2xx sent; 429 retryable with its Retry-After; 408, 5xx, timeouts and connection errors
 * retryable; a redirect or any other 4xx (invalid_payload, no_service, channel_not_found,
 * action_prohibited...) permanent.
 *
 * Not idempotent at Slack: incoming webhooks take no idempotency key, so an attempt that timed out
 * after Slack had posted (or a worker killed mid-call) is retried and the message appears twice.
 * Every message therefore ends with the action's idempotency key (a footer line, and a context
 * block when the action sends blocks), so people can see that two messages are one action.
 *
 * The webhook URL is the credential: it never appears in an outcome or an error (they name the
 * channel). Without any webhook configured the message is recorded as not sent, as page.ts does;
 * a channel with no webhook while others have one is a permanent failure (a configuration mistake).
 *
 * Params: `channel`, `text` (or `summary`), optional `blocks`, `username`, `icon_emoji`,
 * `icon_url`, `unfurl_links`, `unfurl_media`, `mrkdwn`, `thread_ts`.
 */
import { PermanentActionError } from '../../errors.ts';
import type { ActionRecord } from '../../knowledge/store.ts';
import type { SlackSettings } from '../outbound.ts';
import { redactOutcome } from '../outbound.ts';
import { sendOutbound } from './http-call.ts';
import type { Actuator, ActuatorContext } from './types.ts';

/** The context as the Slack actuator reads it (ActuatorContext gains `slack` when it is wired). */
export type SlackContext = ActuatorContext & { slack?: SlackSettings };

const PASSTHROUGH = ['username', 'icon_emoji', 'icon_url', 'unfurl_links', 'unfurl_media', 'mrkdwn', 'thread_ts'] as const;

/** The line that makes a repeated message recognisable as the same action. */
export function slackFooter(action: ActionRecord): string {
  return `mapek · incident ${action.incidentId} · step ${action.step} · idempotency key ${action.idempotencyKey}`;
}

/** The webhook body for an action (no I/O). */
export function slackPayload(action: ActionRecord): Record<string, unknown> {
  const p = action.params;
  const text = String(p.text ?? p.summary ?? `mapek: ${action.type} (${action.step})`);
  const footer = slackFooter(action);
  const payload: Record<string, unknown> = { text: `${text}\n_${footer}_` };
  if (Array.isArray(p.blocks)) payload.blocks = [...p.blocks, { type: 'context', elements: [{ type: 'mrkdwn', text: footer }] }];
  for (const k of PASSTHROUGH) if (p[k] !== undefined) payload[k] = p[k];
  return payload;
}

/** The webhook URL of a channel, with or without its `#`; own keys only. */
export function webhookFor(settings: SlackSettings, channel: string): string | undefined {
  const bare = channel.replace(/^#/, '');
  for (const key of [channel, `#${bare}`, bare]) {
    if (Object.hasOwn(settings.webhookUrls, key)) return settings.webhookUrls[key];
  }
  return undefined;
}

/** Posts the action's message to its channel's incoming webhook, reading `ctx.slack`. */
export const slackActuator: Actuator = async (action, ctx) => {
  const settings = (ctx as SlackContext).slack;
  const configured = settings ? Object.values(settings.webhookUrls) : [];
  const channel = String(action.params.channel ?? settings?.defaultChannel ?? '');
  if (!settings || configured.length === 0) {
    return redactOutcome({ sent: false, reason: 'no Slack webhook configured (set MAPEK_SLACK_WEBHOOKS)', channel, idempotencyKey: action.idempotencyKey });
  }
  if (!channel) throw new PermanentActionError('slack.message: params.channel is required (no default channel configured)');
  const hook = webhookFor(settings, channel);
  const label = `Slack webhook for ${channel.slice(0, 80)}`;
  if (!hook) throw new PermanentActionError(`slack.message: no webhook configured for channel ${channel.slice(0, 80)}`);
  let url: URL;
  try {
    url = new URL(hook);
  } catch {
    throw new PermanentActionError(`${label}: the configured URL is not valid`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new PermanentActionError(`${label}: the configured URL is not http(s)`);
  const res = await sendOutbound({
    method: 'POST',
    url,
    headers: { 'content-type': 'application/json; charset=utf-8' },
    body: JSON.stringify(slackPayload(action)),
    timeoutMs: ctx.timeoutMs,
    label,
    secrets: configured,
    retry409: false,
  });
  return redactOutcome({ sent: true, channel, status: res.status, response: res.text.slice(0, 200), idempotencyKey: action.idempotencyKey }, configured);
};

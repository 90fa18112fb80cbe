/** The actuator port: one action in, the answer out; errors say whether a retry can help. */
import type { ActionRecord } from '../../knowledge/store.ts';
import type { HttpCallSettings, PagerDutySettings, SlackSettings, SmtpSettings } from '../outbound.ts';

/** Settings every actuator call gets. */
export interface ActuatorContext {
  charterUrl: string;
  prometheusUrl: string;
  prometheusAuth?: { bearer?: string; username?: string; password?: string };
  pagerUrl?: string;
  timeoutMs: number;
  /** Slack incoming webhooks by channel (slack.message). */
  slack?: SlackSettings;
  /** PagerDuty Events API v2 (pagerduty.event). */
  pagerduty?: PagerDutySettings;
  /** SMTP submission (email.message). */
  smtp?: SmtpSettings;
  /** The generic call's allow-list and headers (http.call). */
  http?: HttpCallSettings;
}

/** Runs one action; resolves with its outcome, throws RetryableActionError or PermanentActionError. */
export type Actuator = (action: ActionRecord, ctx: ActuatorContext) => Promise<Record<string, unknown>>;

/** A failure that a later attempt may not repeat (5xx, 408, 409, 429, timeouts, refused connections). */
export class RetryableActionError extends Error {
  override readonly name = 'RetryableActionError';
  constructor(
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

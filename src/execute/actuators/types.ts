/** The actuator port: one action in, the answer out; errors say whether a retry can help. */
import type { ActionRecord } from '../../knowledge/store.ts';

/** Settings every actuator call gets. */
export interface ActuatorContext {
  charterUrl: string;
  prometheusUrl: string;
  prometheusAuth?: { bearer?: string; username?: string; password?: string };
  pagerUrl?: string;
  timeoutMs: number;
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

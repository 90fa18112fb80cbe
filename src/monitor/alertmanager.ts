/** The Alertmanager webhook (v4): validation, and each alert turned into an observation with its dedup key. */
import { z } from 'zod';
import { alertDedupKey, type AlertSignal } from '../analyze/findings.ts';
import { ValidationError } from '../errors.ts';
import { stableId } from '../ids.ts';
import type { NewObservation } from '../knowledge/store.ts';

const labelMap = z.record(z.string(), z.string());

const AlertSchema = z.looseObject({
  status: z.enum(['firing', 'resolved']),
  labels: labelMap,
  annotations: labelMap.optional().default({}),
  startsAt: z.string().min(1),
  endsAt: z.string().optional(),
  generatorURL: z.string().optional(),
  fingerprint: z.string().min(1),
});

/** The v4 payload; fields newer Alertmanagers add are tolerated. */
export const WebhookSchema = z.looseObject({
  version: z.string().optional(),
  groupKey: z.string().optional(),
  truncatedAlerts: z.number().int().nonnegative().optional().default(0),
  status: z.enum(['firing', 'resolved']),
  receiver: z.string(),
  groupLabels: labelMap.optional().default({}),
  commonLabels: labelMap.optional().default({}),
  commonAnnotations: labelMap.optional().default({}),
  externalURL: z.string().optional(),
  alerts: z.array(AlertSchema),
});

/** A validated webhook payload. */
export type WebhookPayload = z.infer<typeof WebhookSchema>;

/** Validates a parsed body; the error names the first bad field (e.g. `alerts.0.fingerprint`). */
export function parseWebhook(body: unknown): WebhookPayload {
  const res = WebhookSchema.safeParse(body);
  if (!res.success) {
    const issue = res.error.issues[0]!;
    const field = issue.path.join('.') || '(body)';
    throw new ValidationError(`invalid Alertmanager payload: ${field}: ${issue.message}`, field);
  }
  return res.data;
}

/**
 * One observation per alert. The dedup key is fingerprint + status + startsAt (STYLE.md, habit 7),
 * so repeat_interval re-sends, retries and the other member of an HA pair collapse into one.
 */
export function observationsFromWebhook(payload: WebhookPayload): NewObservation[] {
  return payload.alerts.map((a) => {
    const dedupKey = alertDedupKey(a.fingerprint, a.status, a.startsAt);
    const signal: AlertSignal = {
      status: a.status,
      labels: a.labels,
      annotations: a.annotations,
      startsAt: a.startsAt,
      endsAt: a.endsAt,
      fingerprint: a.fingerprint,
      generatorURL: a.generatorURL,
    };
    return {
      id: stableId('obs', dedupKey),
      source: 'alertmanager' as const,
      dedupKey,
      name: a.labels.alertname ?? 'unnamed',
      status: a.status,
      fingerprint: a.fingerprint,
      labels: a.labels,
      payload: { alert: signal, receiver: payload.receiver, groupKey: payload.groupKey, externalURL: payload.externalURL },
    };
  });
}

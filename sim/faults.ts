/** The simulator's faults (CHARTER.md, "The simulator's faults"): their bodies and the book of active ones. */
import { z } from 'zod';
import { CHARTER_SEVERITIES } from './metrics.ts';

const node = z.string().min(1).max(200);
const label = z.string().min(1).max(200);
const severity = z.enum(CHARTER_SEVERITIES);
const rates = {
  rate_per_s: z.number().positive().max(10_000).optional(),
  rate_per_min: z.number().positive().max(600_000).optional(),
};
/** At most one of rate_per_s and rate_per_min. */
const oneRate = (p: { rate_per_s?: number | undefined; rate_per_min?: number | undefined }): boolean =>
  p.rate_per_s === undefined || p.rate_per_min === undefined;
const oneRateError = { message: 'give rate_per_s or rate_per_min, not both', path: ['rate_per_s'] };

/** Replaces `rate_per_s`/`rate_per_min` by one `rate_per_s`, the default when neither was given. */
function withRate<T extends { rate_per_s?: number | undefined; rate_per_min?: number | undefined }>(
  p: T,
  defaultPerS: number,
): Omit<T, 'rate_per_s' | 'rate_per_min'> & { rate_per_s: number } {
  const { rate_per_s, rate_per_min, ...rest } = p;
  return { ...rest, rate_per_s: rate_per_s ?? (rate_per_min !== undefined ? rate_per_min / 60 : defaultPerS) };
}

/** One schema per fault kind; parsing fills in the defaults. */
export const FAULT_SCHEMAS = {
  violation_burst: z
    .strictObject({
      kind: z.literal('violation_burst'),
      node_or_service: node,
      severity,
      violation_type: label.default('silent_collection'),
      ...rates,
    })
    .refine(oneRate, oneRateError)
    .transform((p) => withRate(p, 2)),
  forbidden_attempts: z
    .strictObject({
      kind: z.literal('forbidden_attempts'),
      node_or_service: node.optional(),
      metric_name: label.default('user_location'),
      status: label.default('blocked'),
      ...rates,
    })
    .refine(oneRate, oneRateError)
    .transform((p) => withRate(p, 12 / 60)),
  slow_validation: z.strictObject({
    kind: z.literal('slow_validation'),
    latency_ns: z.number().positive().max(1e10).default(60_000),
  }),
  stale_policy: z.strictObject({
    kind: z.literal('stale_policy'),
    age_s: z.number().positive().default(90_000),
    reloads_fail: z.boolean().default(false),
  }),
  override_stuck: z.strictObject({
    kind: z.literal('override_stuck'),
    started_minutes_ago: z.number().positive().max(10_000_000).default(45),
    reason: label.default('incident_response'),
    who_triggered: label.default('ops-oncall'),
    node_or_service: node.optional(),
  }),
  slow_notifications: z
    .strictObject({
      kind: z.literal('slow_notifications'),
      latency_ms: z.number().positive().max(1e7).default(2_500),
      ...rates,
    })
    .refine(oneRate, oneRateError)
    .transform((p) => withRate(p, 6 / 60)),
  slow_revocation: z
    .strictObject({
      kind: z.literal('slow_revocation'),
      node_or_service: node.optional(),
      pending_ms: z.number().int().positive().optional(),
      latency_ms: z.number().positive().max(1e8).default(8_000),
      ...rates,
    })
    .refine(oneRate, oneRateError)
    .transform((p) => withRate(p, 0.4 / 60)),
  policy_flapping: z
    .strictObject({ kind: z.literal('policy_flapping'), ...rates })
    .refine(oneRate, oneRateError)
    .transform((p) => withRate(p, 3 / 60)),
  committee_overload: z.strictObject({
    kind: z.literal('committee_overload'),
    count: z.number().int().min(1).max(1_000).default(14),
    severity: severity.optional(),
  }),
  violation_flood: z
    .strictObject({
      kind: z.literal('violation_flood'),
      node_or_service: node.optional(),
      severity: severity.default('WARNING'),
      violation_type: label.default('data_extraction'),
      rate_per_s: z.number().positive().max(50).optional(),
      rate_per_min: z.number().positive().max(3_000).optional(),
    })
    .refine(oneRate, oneRateError)
    .transform((p) => withRate(p, 8)),
  revocation_storm: z
    .strictObject({
      kind: z.literal('revocation_storm'),
      node_or_service: node.optional(),
      reason: label.default('security_incident'),
      ...rates,
    })
    .refine(oneRate, oneRateError)
    .transform((p) => withRate(p, 4 / 60)),
  quarantine_ineffective: z.strictObject({
    kind: z.literal('quarantine_ineffective'),
    node_or_service: node,
  }),
  slow_actuator: z.strictObject({
    kind: z.literal('slow_actuator'),
    delay_ms: z.number().int().min(0).max(600_000),
    node_or_service: node.optional(),
  }),
  actuator_errors: z
    .strictObject({
      kind: z.literal('actuator_errors'),
      count: z.number().int().positive().optional(),
      duration_ms: z.number().int().positive().optional(),
      node_or_service: node.optional(),
    })
    .refine((p) => p.count !== undefined || p.duration_ms !== undefined, {
      message: 'give count or duration_ms',
      path: ['count'],
    }),
} as const;

/** The name of a fault kind. */
export type FaultKind = keyof typeof FAULT_SCHEMAS;
/** Every fault kind, in CHARTER.md order. */
export const FAULT_KINDS = Object.keys(FAULT_SCHEMAS) as FaultKind[];
/** A fault as posted, with its defaults filled in. */
export type FaultSpec = { [K in FaultKind]: z.output<(typeof FAULT_SCHEMAS)[K]> }[FaultKind];
/** The spec of one kind of fault. */
export type FaultSpecOf<K extends FaultKind> = Extract<FaultSpec, { kind: K }>;

/** True when `kind` names a fault. */
export function isFaultKind(kind: unknown): kind is FaultKind {
  return typeof kind === 'string' && Object.hasOwn(FAULT_SCHEMAS, kind);
}

/** A fault in effect, with the little state its emissions need. */
export interface ActiveFault<K extends FaultKind = FaultKind> {
  id: string;
  spec: FaultSpecOf<K>;
  createdAtMs: number;
  /** Events emitted so far (violations, attempts, loads...). */
  emitted: number;
  /** Fractional events owed, so rates below one per tick still come out right. */
  carry: number;
  /** Round-robin position over the nodes the fault spreads across. */
  cursor: number;
  /** actuator_errors: calls still to fail, when limited by count. */
  remaining: number | undefined;
  /** Records this fault created (overrides, investigations), undone when it goes. */
  owned: string[];
}

/** The faults in effect; removing one tells `onRemove`, which undoes what the fault set up. */
export class FaultBook {
  private faults: ActiveFault[] = [];
  private nextId = 1;

  constructor(private readonly onRemove: (fault: ActiveFault) => void) {}

  /** Adds a fault and returns it. */
  add(spec: FaultSpec, nowMs: number): ActiveFault {
    const fault: ActiveFault = {
      id: `fault-${this.nextId++}`,
      spec,
      createdAtMs: nowMs,
      emitted: 0,
      carry: 0,
      cursor: 0,
      remaining: spec.kind === 'actuator_errors' ? spec.count : undefined,
      owned: [],
    };
    this.faults.push(fault);
    return fault;
  }

  /** All faults in effect, oldest first. */
  list(): readonly ActiveFault[] {
    return this.faults;
  }

  /** The faults of one kind. */
  ofKind<K extends FaultKind>(kind: K): Array<ActiveFault<K>> {
    return this.faults.filter((f) => f.spec.kind === kind) as unknown as Array<ActiveFault<K>>;
  }

  /** The faults of one kind that apply to `node` (those without a node apply to all). */
  about<K extends FaultKind>(kind: K, node: string | undefined): Array<ActiveFault<K>> {
    return this.ofKind(kind).filter((f) => {
      const target = (f.spec as { node_or_service?: string }).node_or_service;
      return target === undefined || target === node;
    });
  }

  /** Removes the faults that match; returns how many went. */
  removeWhere(match: (fault: ActiveFault) => boolean): number {
    const gone = this.faults.filter(match);
    if (gone.length === 0) return 0;
    this.faults = this.faults.filter((f) => !match(f));
    for (const f of gone) this.onRemove(f);
    return gone.length;
  }

  /** Drops actuator_errors faults whose duration has run out. */
  expire(nowMs: number): void {
    this.removeWhere(
      (f) => f.spec.kind === 'actuator_errors' && f.spec.duration_ms !== undefined && nowMs >= f.createdAtMs + f.spec.duration_ms,
    );
  }

  /** Whether an actuator call about `node` must fail now; a counted fault uses up one call. */
  takeActuatorError(node: string | undefined, nowMs: number): boolean {
    this.expire(nowMs);
    const fault = this.about('actuator_errors', node)[0];
    if (!fault) return false;
    if (fault.remaining !== undefined) {
      fault.remaining -= 1;
      if (fault.remaining <= 0) this.removeWhere((f) => f === fault);
    }
    return true;
  }

  /** How late an actuator call about `node` must answer (the longest matching slow_actuator). */
  actuatorDelayMs(node: string | undefined): number {
    return Math.max(0, ...this.about('slow_actuator', node).map((f) => f.spec.delay_ms));
  }
}

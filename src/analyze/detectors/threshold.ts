/**
 * A static threshold with a for-duration and hysteresis, as a pure state machine over samples:
 *
 *   inactive ──breach──▶ pending ──breach held for `forMs`──▶ firing
 *      ▲                   │ no breach                          │ value past `clear` for `keepFiringForMs`
 *      └───────────────────┴────────────────────────────────────┘
 *
 * Pending needs the firing condition at every sample (Prometheus' `for`); once firing, only
 * crossing the separate clearing threshold counts, and it must stay crossed for `keepFiringForMs`
 * (Prometheus' `keep_firing_for`) — so a value hovering at the line neither flaps nor re-pages.
 * A missing sample (NaN) changes nothing: no new alarm on missing data, no resolution either.
 */
import { ValidationError } from '../../errors.ts';

/** The rule. */
export interface ThresholdRule {
  /** `above`: a breach is value > fire; `below`: value < fire. */
  direction: 'above' | 'below';
  fire: number;
  /** Clearing threshold (default: `fire`): firing stops only when value ≤ clear (`above`) or ≥ clear (`below`). */
  clear?: number;
  /** How long the breach must hold before firing (default 0: at once). */
  forMs?: number;
  /** How long it keeps firing once the value is past the clearing threshold (default 0). */
  keepFiringForMs?: number;
}

/** Where a rule stands. */
export interface ThresholdState {
  phase: 'inactive' | 'pending' | 'firing';
  /** When the current breach began (pending and firing). */
  since?: number;
  /** When it started firing. */
  firingSince?: number;
  /** When the value last crossed the clearing threshold while firing (keep-firing countdown). */
  clearedAt?: number;
}

/** What one sample changed. */
export interface ThresholdEvent {
  type: 'pending' | 'firing' | 'cancelled' | 'resolved';
  at: number;
  value: number;
  /** The values and thresholds behind the change. */
  evidence: { fire: number; clear: number; direction: 'above' | 'below'; forMs: number; keepFiringForMs: number; since?: number; firingSince?: number };
}

/** The state before any sample. */
export const INACTIVE: ThresholdState = Object.freeze({ phase: 'inactive' as const });

/** Checks a rule; throws a ValidationError naming the field at fault. */
export function checkThresholdRule(rule: ThresholdRule): Required<ThresholdRule> {
  const clear = rule.clear ?? rule.fire;
  const forMs = rule.forMs ?? 0;
  const keepFiringForMs = rule.keepFiringForMs ?? 0;
  if (rule.direction !== 'above' && rule.direction !== 'below') throw new ValidationError(`threshold: direction must be "above" or "below", got ${JSON.stringify(rule.direction)}`, 'direction');
  if (!Number.isFinite(rule.fire)) throw new ValidationError(`threshold: fire must be a finite number, got ${rule.fire}`, 'fire');
  if (!Number.isFinite(clear)) throw new ValidationError(`threshold: clear must be a finite number, got ${clear}`, 'clear');
  if (rule.direction === 'above' ? clear > rule.fire : clear < rule.fire) {
    throw new ValidationError(`threshold: clear (${clear}) must be on the normal side of fire (${rule.fire}) for direction ${rule.direction}`, 'clear');
  }
  if (!(forMs >= 0)) throw new ValidationError(`threshold: forMs must be ≥ 0, got ${forMs}`, 'forMs');
  if (!(keepFiringForMs >= 0)) throw new ValidationError(`threshold: keepFiringForMs must be ≥ 0, got ${keepFiringForMs}`, 'keepFiringForMs');
  return { direction: rule.direction, fire: rule.fire, clear, forMs, keepFiringForMs };
}

/** Advances the rule by one sample at time `t`; returns the new state and the event, if any. */
export function stepThreshold(rule: ThresholdRule, state: ThresholdState, t: number, value: number): { state: ThresholdState; event?: ThresholdEvent } {
  const r = checkThresholdRule(rule);
  if (!Number.isFinite(value)) return { state };
  const above = r.direction === 'above';
  const breaching = above ? value > r.fire : value < r.fire;
  const holding = above ? value > r.clear : value < r.clear;
  const event = (type: ThresholdEvent['type'], s: ThresholdState): { state: ThresholdState; event: ThresholdEvent } => ({
    state: s,
    event: {
      type,
      at: t,
      value,
      evidence: { fire: r.fire, clear: r.clear, direction: r.direction, forMs: r.forMs, keepFiringForMs: r.keepFiringForMs, since: s.since ?? state.since, firingSince: s.firingSince ?? state.firingSince },
    },
  });
  switch (state.phase) {
    case 'inactive':
      if (!breaching) return { state };
      if (r.forMs === 0) return event('firing', { phase: 'firing', since: t, firingSince: t });
      return event('pending', { phase: 'pending', since: t });
    case 'pending': {
      const since = state.since ?? t;
      if (!breaching) return event('cancelled', { phase: 'inactive' });
      if (t - since >= r.forMs) return event('firing', { phase: 'firing', since, firingSince: t });
      return { state };
    }
    case 'firing': {
      if (holding) return state.clearedAt === undefined ? { state } : { state: { phase: 'firing', since: state.since, firingSince: state.firingSince } };
      const clearedAt = state.clearedAt ?? t;
      if (t - clearedAt >= r.keepFiringForMs) return event('resolved', { phase: 'inactive' });
      return clearedAt === state.clearedAt ? { state } : { state: { ...state, clearedAt } };
    }
  }
}

/** One firing episode over a recorded series. */
export interface ThresholdEpisode {
  /** When the breach began and when it fired. */
  since: number;
  firedAt: number;
  /** When it resolved; absent while still firing at the last sample. */
  resolvedAt?: number;
  /** The most extreme value seen while firing. */
  peak: number;
}

/** Runs the rule over samples in time order: every event, the firing episodes and the final state. */
export function evaluateThreshold(
  rule: ThresholdRule,
  samples: Iterable<{ t: number; value: number }>,
  initial: ThresholdState = INACTIVE,
): { events: ThresholdEvent[]; episodes: ThresholdEpisode[]; state: ThresholdState } {
  checkThresholdRule(rule);
  const events: ThresholdEvent[] = [];
  const episodes: ThresholdEpisode[] = [];
  let state = initial;
  let open: ThresholdEpisode | undefined =
    initial.phase === 'firing' ? { since: initial.since ?? Number.NaN, firedAt: initial.firingSince ?? Number.NaN, peak: Number.NaN } : undefined;
  if (open) episodes.push(open);
  const more = rule.direction === 'above' ? (a: number, b: number) => a > b : (a: number, b: number) => a < b;
  for (const { t, value } of samples) {
    const step = stepThreshold(rule, state, t, value);
    state = step.state;
    if (step.event) {
      events.push(step.event);
      if (step.event.type === 'firing') {
        open = { since: state.since ?? t, firedAt: t, peak: value };
        episodes.push(open);
      } else if (step.event.type === 'resolved' && open) {
        open.resolvedAt = t;
        open = undefined;
      }
    }
    if (open && state.phase === 'firing' && Number.isFinite(value) && (Number.isNaN(open.peak) || more(value, open.peak))) open.peak = value;
  }
  return { events, episodes, state };
}

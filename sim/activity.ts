/**
 * What happens on each tick: calm background traffic on every metric, kept under every
 * alert threshold of CHARTER.md with margin, plus whatever the active faults emit.
 */
import type { SimulatedCharter } from './charter.ts';
import { floodNodes } from './charter.ts';
import type { ActiveFault } from './faults.ts';
import type { CharterSeverity } from './metrics.ts';

/** Background nodes when none are given. */
export const DEFAULT_BACKGROUND_NODES = ['node-alpha', 'node-beta', 'node-gamma', 'svc-billing', 'svc-analytics'] as const;

const VIOLATION_TYPES = ['silent_collection', 'behavioral_prediction', 'data_extraction'] as const;
const FORBIDDEN_METRICS = ['user_location', 'browsing_history', 'device_hardware_id'] as const;
const BACKGROUND_SEVERITIES = ['WARNING', 'SUSPENSION'] as const;
const ATTEMPT_STATUSES = ['blocked', 'reported'] as const;
const REVOCATION_REASONS = ['account_closure', 'policy_violation'] as const;
const INITIATORS = ['system', 'committee'] as const;

/**
 * Background rates (events per second) and caps. Rule thresholds they stay under:
 * 5 violations/5 min per node (cap 2), 3 attempts/min per node (cap 1), 5 violations/s
 * overall (~0.03), 1 revocation/min (~0.1, at least 2 min apart), 10 loads/h (3),
 * p99 validation 20 µs (all under 10 µs), committee notifications < 1 s, revocations < 5 s.
 */
const BACKGROUND = {
  violationsPerS: 1 / 30,
  violationCapPer5Min: 2,
  suspensionShare: 0.15,
  attemptsPerS: 1 / 25,
  attemptCapPerMin: 1,
  validationsPerS: 25,
  validationNs: [150, 9_500] as const,
  policyLoadEveryMs: 20 * 60_000,
  notificationsPerS: 1 / 180,
  revocationsPerS: 1 / 600,
  revocationMinGapMs: 2 * 60_000,
  investigationsPerS: 1 / 480,
  investigationClosuresPerS: 1 / 480,
  baselineInvestigationsMax: 5,
  overridesPerS: 1 / 7_200,
} as const;

/** Longest stretch one tick accounts for, so a stalled event loop does not come back as a burst. */
const MAX_TICK_S = 5;

/** Drives the simulated Charter's metrics over time. */
export class CharterActivity {
  private lastTickMs: number;
  private ticks = 0;
  private validationCarry = 0;
  private lastBackgroundLoadMs: number;
  private lastBackgroundRevocationMs = Number.NEGATIVE_INFINITY;
  private timer: NodeJS.Timeout | undefined;
  private readonly floodPools = new WeakMap<ActiveFault, string[]>();

  constructor(private readonly charter: SimulatedCharter) {
    const now = charter.deps.now();
    this.lastTickMs = now;
    this.lastBackgroundLoadMs = now;
    this.exposeBackgroundSeries();
  }

  /** Ticks every `tickMs` until stopped. */
  start(tickMs: number): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.tick(), tickMs);
    this.timer.unref();
  }

  /** Stops ticking. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One step of simulated time, from the last tick to now. */
  tick(): void {
    const { charter } = this;
    const { metrics, now } = charter.deps;
    const nowMs = now();
    const dt = Math.min(Math.max(0, (nowMs - this.lastTickMs) / 1000), MAX_TICK_S);
    this.lastTickMs = nowMs;
    // Counts for series made new before this tick go in first: they were seen at 0 for one tick.
    metrics.flushPending();
    charter.faults.expire(nowMs);
    charter.settle(nowMs);
    if (this.ticks++ === 0) this.warmUp();
    this.background(dt, nowMs);
    for (const fault of charter.faults.list()) this.emit(fault, dt);
    charter.syncGauges();
  }

  private get nodes(): readonly string[] {
    return this.charter.deps.nodes;
  }

  private exposeBackgroundSeries(): void {
    const { metrics, committeeSize } = this.charter.deps;
    for (const node of this.nodes) {
      for (const severity of BACKGROUND_SEVERITIES) {
        for (const type of VIOLATION_TYPES) metrics.violations.expose({ severity, violation_type: type, node_or_service: node });
      }
      for (const metric of FORBIDDEN_METRICS) {
        for (const status of ATTEMPT_STATUSES) metrics.forbiddenAttempts.expose({ metric_name: metric, node_or_service: node, status });
      }
      for (const reason of REVOCATION_REASONS) metrics.revocationEvents.expose({ reason, node_or_service: node });
    }
    metrics.committeeNotifications.expose({ severity: 'WARNING', recipient_count: String(committeeSize) });
    for (const type of VIOLATION_TYPES) {
      for (const by of INITIATORS) metrics.investigationsInitiated.expose({ violation_type: type, initiated_by: by });
    }
    metrics.emergencyOverrides.expose({ reason: 'scheduled_drill', who_triggered: 'committee' });
  }

  /** One event on every metric at the first tick, so a fresh simulator shows activity at once. */
  private warmUp(): void {
    const { charter } = this;
    const { metrics, random, committeeSize } = charter.deps;
    const [first = 'node-alpha', second = first, third = second] = this.nodes;
    if (!charter.isBlocked(first)) charter.recordViolation(first, 'WARNING', 'silent_collection', random.between(60, 400));
    if (!charter.isBlocked(second, 'user_location')) charter.recordForbiddenAttempt(second, 'user_location', 'blocked');
    charter.recordRevocation('account_closure', third, charter.revocationLatencyMs(third));
    this.lastBackgroundRevocationMs = charter.deps.now();
    charter.recordNotification('WARNING', committeeSize);
    metrics.investigationsInitiated.add({ violation_type: 'behavioral_prediction', initiated_by: 'system' });
    metrics.emergencyOverrides.add({ reason: 'scheduled_drill', who_triggered: 'committee' });
  }

  private background(dt: number, nowMs: number): void {
    const { charter } = this;
    const { metrics, random, committeeSize } = charter.deps;

    if (random.chance(BACKGROUND.violationsPerS * dt)) {
      const node = random.pick(this.nodes);
      if (!charter.isBlocked(node) && charter.violationCount(node, 5 * 60_000) < BACKGROUND.violationCapPer5Min) {
        const severity: CharterSeverity = random.chance(BACKGROUND.suspensionShare) ? 'SUSPENSION' : 'WARNING';
        charter.recordViolation(node, severity, random.pick(VIOLATION_TYPES), random.logBetween(60, 450));
      }
    }

    if (random.chance(BACKGROUND.attemptsPerS * dt)) {
      const node = random.pick(this.nodes);
      const metric = random.pick(FORBIDDEN_METRICS);
      if (!charter.isBlocked(node, metric) && charter.attemptCount(node, 60_000) < BACKGROUND.attemptCapPerMin) {
        charter.recordForbiddenAttempt(node, metric, random.chance(0.75) ? 'blocked' : 'reported');
      }
    }

    this.validationCarry += BACKGROUND.validationsPerS * dt;
    const slow = charter.faults.ofKind('slow_validation')[0];
    for (; this.validationCarry >= 1; this.validationCarry -= 1) {
      metrics.validationLatencyNs.observe(
        slow ? slow.spec.latency_ns * random.between(0.8, 1.25) : random.logBetween(...BACKGROUND.validationNs),
      );
    }

    // A stale policy is one that does not load: the periodic load waits for the fault to go.
    if (nowMs - this.lastBackgroundLoadMs >= BACKGROUND.policyLoadEveryMs) {
      this.lastBackgroundLoadMs = nowMs;
      if (charter.faults.ofKind('stale_policy').length === 0) charter.loadPolicy();
    }

    if (random.chance(BACKGROUND.notificationsPerS * dt)) charter.recordNotification('WARNING', committeeSize);

    if (nowMs - this.lastBackgroundRevocationMs >= BACKGROUND.revocationMinGapMs && random.chance(BACKGROUND.revocationsPerS * dt)) {
      this.lastBackgroundRevocationMs = nowMs;
      const node = random.pick(this.nodes);
      charter.recordRevocation(random.chance(0.7) ? 'account_closure' : 'policy_violation', node, charter.revocationLatencyMs(node));
    }

    const baseline = charter.baselineUnderInvestigation;
    if (random.chance(BACKGROUND.investigationsPerS * dt)) {
      metrics.investigationsInitiated.add({ violation_type: random.pick(VIOLATION_TYPES), initiated_by: random.pick(INITIATORS) });
      if (baseline.WARNING + baseline.SUSPENSION < BACKGROUND.baselineInvestigationsMax) baseline[random.pick(BACKGROUND_SEVERITIES)] += 1;
    }
    if (random.chance(BACKGROUND.investigationClosuresPerS * dt) && baseline.WARNING + baseline.SUSPENSION > 1) {
      const severity = random.pick(BACKGROUND_SEVERITIES);
      if (baseline[severity] > 0) baseline[severity] -= 1;
    }

    // Overrides in the background start and end within the tick: the active count stays 0.
    if (random.chance(BACKGROUND.overridesPerS * dt)) metrics.emergencyOverrides.add({ reason: 'scheduled_drill', who_triggered: 'committee' });
  }

  /** How many events a rate-driven fault owes for this tick. */
  private due(fault: ActiveFault, ratePerS: number, dt: number): number {
    fault.carry += ratePerS * dt;
    const n = Math.floor(fault.carry);
    fault.carry -= n;
    fault.emitted += n;
    return n;
  }

  private emit(fault: ActiveFault, dt: number): void {
    const { charter } = this;
    const { random, committeeSize } = charter.deps;
    const spec = fault.spec;
    switch (spec.kind) {
      case 'violation_burst': {
        // A quarantined or removed node emits nothing, and owes nothing once it is let go.
        if (charter.isBlocked(spec.node_or_service)) {
          fault.carry = 0;
          return;
        }
        const n = this.due(fault, spec.rate_per_s, dt);
        for (let i = 0; i < n; i++) {
          charter.recordViolation(spec.node_or_service, spec.severity, spec.violation_type, random.logBetween(80, 700));
        }
        return;
      }
      case 'forbidden_attempts': {
        const n = this.due(fault, spec.rate_per_s, dt);
        const targets = spec.node_or_service !== undefined ? [spec.node_or_service] : this.nodes;
        for (const node of targets) {
          if (charter.isBlocked(node, spec.metric_name)) continue;
          for (let i = 0; i < n; i++) charter.recordForbiddenAttempt(node, spec.metric_name, spec.status);
        }
        return;
      }
      case 'slow_notifications': {
        const n = this.due(fault, spec.rate_per_s, dt);
        for (let i = 0; i < n; i++) charter.recordNotification('WARNING', committeeSize);
        return;
      }
      case 'slow_revocation':
      case 'revocation_storm': {
        const n = this.due(fault, spec.rate_per_s, dt);
        const reason = spec.kind === 'revocation_storm' ? spec.reason : 'policy_violation';
        for (let i = 0; i < n; i++) {
          const node = spec.node_or_service ?? this.nodes[fault.cursor++ % this.nodes.length] ?? 'node-alpha';
          // A storm is many ordinary revocations: fast unless slow_revocation says otherwise.
          charter.recordRevocation(reason, node, charter.revocationLatencyMs(node));
        }
        return;
      }
      case 'policy_flapping': {
        const n = this.due(fault, spec.rate_per_s, dt);
        for (let i = 0; i < n; i++) charter.loadPolicy();
        return;
      }
      case 'violation_flood': {
        const n = this.due(fault, spec.rate_per_s, dt);
        let pool = this.floodPools.get(fault);
        if (!pool) {
          pool = floodNodes(spec.node_or_service, spec.rate_per_s);
          this.floodPools.set(fault, pool);
        }
        for (let i = 0; i < n; i++) {
          const node = pool[fault.cursor++ % pool.length] ?? 'flood-node-0001';
          if (!charter.isBlocked(node)) charter.recordViolation(node, spec.severity, spec.violation_type, random.logBetween(80, 900));
        }
        return;
      }
      default:
        // The other faults act on state (gauges, records, the actuator API), not on a rate.
        return;
    }
  }
}

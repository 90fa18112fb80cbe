/** The simulated Charter: its records, what blocks a node, and every event that moves a metric. */
import { CHARTER_SEVERITIES, type CharterMetrics, type CharterSeverity } from './metrics.ts';
import { FaultBook, type ActiveFault, type FaultSpec } from './faults.ts';
import type { Random } from './random.ts';

/** What every actuator record carries. */
export interface CharterRecord {
  id: string;
  created_at: string;
  /** null for records the simulator made itself (a fault's override or investigations). */
  idempotency_key: string | null;
  [field: string]: unknown;
}

/** A block on a node's collection, or on one metric of it. */
export interface QuarantineRecord extends CharterRecord {
  node_or_service: string;
  metric_name?: string;
  reason: string;
  status: 'active' | 'lifted';
  lifted_at?: string;
}

/** A revocation of data access; `scope: "all"` removes the node. */
export interface RevocationRecord extends CharterRecord {
  node_or_service: string;
  reason: string;
  scope: string;
  status: 'pending' | 'completed' | 'restored';
  completed_at?: string;
  latency_ms?: number;
  restored_at?: string;
}

/** An investigation; open ones count in violations_under_investigation. */
export interface InvestigationRecord extends CharterRecord {
  violation_type: string;
  node_or_service: string;
  initiated_by: string;
  severity: CharterSeverity;
  status: 'open' | 'held' | 'closed';
  origin: 'api' | 'fault';
  held_at?: string;
  closed_at?: string;
}

/** An emergency override; active ones count in emergency_override_active_count. */
export interface OverrideRecord extends CharterRecord {
  reason: string;
  who_triggered: string;
  node_or_service?: string;
  started_at: string;
  status: 'active' | 'revoked' | 'ended';
  expires_at: string | null;
  extensions: Array<{ at: string; minutes: number; by?: string; reason?: string; idempotency_key: string }>;
  revoked_at?: string;
  ended_at?: string;
}

/** A notification sent to the audit committee. */
export interface NotificationRecord extends CharterRecord {
  severity: string;
  summary: string;
  recipient_count: number;
  node_or_service?: string;
  latency_ms: number;
}

/** One policy reload asked through the API. */
export interface PolicyReloadRecord extends CharterRecord {
  status: 'loaded' | 'failed';
  duration_ms?: number;
  error?: string;
}

/** Bodies of the actuator calls, as validated by the API (extra fields are kept on the record). */
export interface QuarantineRequest { node_or_service: string; metric_name?: string | undefined; reason: string; [field: string]: unknown }
export interface RevocationRequest { node_or_service: string; reason: string; scope: string; [field: string]: unknown }
export interface InvestigationRequest {
  violation_type: string; node_or_service: string; initiated_by: string; severity?: CharterSeverity | undefined; [field: string]: unknown;
}
export interface NotificationRequest {
  severity: string; summary: string; recipients: string[] | number; node_or_service?: string | undefined; [field: string]: unknown;
}
export interface AnnotatedRequest { by?: string | undefined; reason?: string | undefined; minutes?: number | undefined; [field: string]: unknown }

/** Investigations severer than this are "critical" and never fault-made in bulk. */
const SEVERITY_RANK = new Map<string, number>(CHARTER_SEVERITIES.map((s, i) => [s, i]));
const RECENT_MS = 15 * 60_000;
const VIOLATION_TYPES = ['silent_collection', 'behavioral_prediction', 'data_extraction'] as const;

/** What the simulated Charter needs from outside. */
export interface CharterDeps {
  metrics: CharterMetrics;
  random: Random;
  now: () => number;
  committeeSize: number;
  /** The nodes the background traffic comes from; unscoped faults spread over them. */
  nodes: readonly string[];
}

/** Every record collection of the Charter, by its URL name. */
export interface CharterCollections {
  quarantines: QuarantineRecord[];
  revocations: RevocationRecord[];
  investigations: InvestigationRecord[];
  overrides: OverrideRecord[];
  notifications: NotificationRecord[];
  reloads: PolicyReloadRecord[];
}

/** The state of the simulated Charter and the events that change its metrics. */
export class SimulatedCharter {
  readonly faults: FaultBook;
  readonly records: CharterCollections = {
    quarantines: [], revocations: [], investigations: [], overrides: [], notifications: [], reloads: [],
  };
  /** Open investigations the background keeps, by severity, apart from the records. */
  readonly baselineUnderInvestigation: Record<CharterSeverity, number> = {
    WARNING: 2, SUSPENSION: 1, BAN_1YEAR: 0, PERMANENT_BAN: 0, CRIMINAL_REFERRAL: 0,
  };
  lastPolicyLoadMs: number;
  /** Open investigations among the records, by severity: kept as they open, go on hold or close (the records only grow). */
  private readonly openInvestigations = new Map<string, number>();

  private readonly recentViolations = new Map<string, Array<{ at: number; severity: CharterSeverity }>>();
  private readonly recentAttempts = new Map<string, number[]>();
  private readonly pendingRevocations = new Map<string, { startedMs: number; dueMs: number | undefined; faultId: string }>();
  private readonly sequence = new Map<string, number>();

  constructor(readonly deps: CharterDeps) {
    this.faults = new FaultBook((f) => this.faultRemoved(f));
    this.lastPolicyLoadMs = deps.now();
    this.loadPolicy();
    this.syncGauges();
  }

  private get metrics(): CharterMetrics {
    return this.deps.metrics;
  }

  private iso(ms = this.deps.now()): string {
    return new Date(ms).toISOString();
  }

  private nextId(prefix: string): string {
    const n = (this.sequence.get(prefix) ?? 0) + 1;
    this.sequence.set(prefix, n);
    return `${prefix}-${n}`;
  }

  /** A new record: id, created_at and idempotency_key first, then the fields posted, then the Charter's own. */
  private stamp<B extends object, F extends object>(prefix: string, key: string | null, body: B, fields: F) {
    const head = { id: this.nextId(prefix), created_at: this.iso(), idempotency_key: key };
    // head goes in twice: first for the key order, last so a posted field cannot replace it.
    return Object.assign({ ...head }, body, fields, head);
  }

  // ---- what blocks a node ----

  /**
   * Whether the node's collection is blocked: a whole-node quarantine, a completed
   * `scope: "all"` revocation, or (with `metricName`) a quarantine of that metric;
   * quarantine_ineffective cancels all of them.
   */
  isBlocked(node: string, metricName?: string): boolean {
    if (this.faults.ofKind('quarantine_ineffective').some((f) => f.spec.node_or_service === node)) return false;
    const removed = this.records.revocations.some(
      (r) => r.node_or_service === node && r.scope === 'all' && r.status === 'completed',
    );
    if (removed) return true;
    return this.records.quarantines.some(
      (q) => q.status === 'active' && q.node_or_service === node &&
        (q.metric_name === undefined || (metricName !== undefined && q.metric_name === metricName)),
    );
  }

  /** Violations the node showed in the last `windowMs`. */
  violationCount(node: string, windowMs: number): number {
    const since = this.deps.now() - windowMs;
    return (this.recentViolations.get(node) ?? []).filter((v) => v.at > since).length;
  }

  /** Forbidden attempts the node made in the last `windowMs`. */
  attemptCount(node: string, windowMs: number): number {
    const since = this.deps.now() - windowMs;
    return (this.recentAttempts.get(node) ?? []).filter((at) => at > since).length;
  }

  /** The worst severity the node showed in the last 15 min, as the ladder reads it. */
  worstRecentSeverity(node: string): CharterSeverity | undefined {
    const since = this.deps.now() - RECENT_MS;
    let worst: CharterSeverity | undefined;
    for (const v of this.recentViolations.get(node) ?? []) {
      if (v.at > since && (worst === undefined || (SEVERITY_RANK.get(v.severity) ?? 0) > (SEVERITY_RANK.get(worst) ?? 0))) worst = v.severity;
    }
    return worst;
  }

  // ---- events (each moves metrics) ----

  /** A violation was detected (the caller has checked the node is not blocked). */
  recordViolation(node: string, severity: CharterSeverity, violationType: string, reportLatencyMs: number): void {
    this.metrics.violations.add({ severity, violation_type: violationType, node_or_service: node });
    this.metrics.violationReportLatencyMs.observe(reportLatencyMs);
    const log = this.recentViolations.get(node) ?? [];
    log.push({ at: this.deps.now(), severity });
    this.recentViolations.set(node, log);
  }

  /** Someone tried to collect a forbidden metric. */
  recordForbiddenAttempt(node: string, metricName: string, status: string): void {
    this.metrics.forbiddenAttempts.add({ metric_name: metricName, node_or_service: node, status });
    const log = this.recentAttempts.get(node) ?? [];
    log.push(this.deps.now());
    this.recentAttempts.set(node, log);
  }

  /** The policy loaded; while stale_policy holds, the exported timestamp stays old regardless. */
  loadPolicy(durationMs = this.deps.random.between(40, 180)): void {
    this.lastPolicyLoadMs = this.deps.now();
    this.metrics.policyLoadDurationMs.observe(durationMs);
  }

  /** A revocation finished (metrics only: the background's and the faults' revocations). */
  recordRevocation(reason: string, node: string, latencyMs: number): void {
    this.metrics.revocationEvents.add({ reason, node_or_service: node });
    this.metrics.revocationLatencyMs.observe(latencyMs);
  }

  /** The committee was notified; returns the latency observed. */
  recordNotification(severity: string, recipientCount: number): number {
    const slow = this.faults.ofKind('slow_notifications')[0];
    const latencyMs = Math.round(slow ? slow.spec.latency_ms * this.deps.random.between(0.85, 1.2) : this.deps.random.logBetween(20, 400));
    this.metrics.committeeNotifications.add({ severity, recipient_count: String(recipientCount) });
    this.metrics.committeeNotificationLatencyMs.observe(latencyMs);
    return latencyMs;
  }

  /** A revocation latency for `node`: slow under a matching slow_revocation, well under 5 s otherwise. */
  revocationLatencyMs(node: string | undefined): number {
    const slow = this.faults.about('slow_revocation', node)[0];
    return Math.round(slow ? slow.spec.latency_ms * this.deps.random.between(0.9, 1.2) : this.deps.random.logBetween(120, 1_800));
  }

  // ---- gauges and time ----

  /** Exported policy load time: the real one, or a stale one while stale_policy holds. */
  policyLastLoadSeconds(): number {
    const stale = this.faults.ofKind('stale_policy').map((f) => f.createdAtMs - f.spec.age_s * 1000);
    return Math.min(this.lastPolicyLoadMs, ...stale) / 1000;
  }

  private addInvestigation(record: InvestigationRecord): void {
    this.records.investigations.push(record);
    if (record.status === 'open') this.countOpen(record.severity, 1);
  }

  private countOpen(severity: string, by: number): void {
    this.openInvestigations.set(severity, (this.openInvestigations.get(severity) ?? 0) + by);
  }

  /** Sets the four gauges from the current state. */
  syncGauges(): void {
    for (const severity of CHARTER_SEVERITIES) {
      this.metrics.underInvestigation.set({ severity }, this.baselineUnderInvestigation[severity] + (this.openInvestigations.get(severity) ?? 0));
    }
    this.metrics.committeeSize.set(this.deps.committeeSize);
    this.metrics.policyLastLoadTimestamp.set(this.policyLastLoadSeconds());
    this.metrics.overridesActive.set(this.records.overrides.filter((o) => o.status === 'active').length);
  }

  /** Completes slow revocations that are due and forgets old history. */
  settle(nowMs: number): void {
    for (const [id, pending] of this.pendingRevocations) {
      if (pending.dueMs !== undefined && nowMs >= pending.dueMs) this.completeRevocation(id);
    }
    for (const [node, log] of this.recentViolations) {
      const kept = log.filter((v) => v.at > nowMs - RECENT_MS);
      if (kept.length === 0) this.recentViolations.delete(node);
      else this.recentViolations.set(node, kept);
    }
    for (const [node, log] of this.recentAttempts) {
      const kept = log.filter((at) => at > nowMs - 5 * 60_000);
      if (kept.length === 0) this.recentAttempts.delete(node);
      else this.recentAttempts.set(node, kept);
    }
  }

  // ---- faults ----

  /** Puts a fault in effect and sets up what it needs (series at 0, records). */
  addFault(spec: FaultSpec): ActiveFault {
    const fault = this.faults.add(spec, this.deps.now());
    const { metrics } = this;
    const nodes = this.deps.nodes;
    switch (spec.kind) {
      case 'violation_burst':
        metrics.violations.expose({ severity: spec.severity, violation_type: spec.violation_type, node_or_service: spec.node_or_service });
        break;
      case 'forbidden_attempts':
        for (const n of spec.node_or_service !== undefined ? [spec.node_or_service] : nodes) {
          metrics.forbiddenAttempts.expose({ metric_name: spec.metric_name, node_or_service: n, status: spec.status });
        }
        break;
      case 'violation_flood':
        for (const n of floodNodes(spec.node_or_service, spec.rate_per_s)) {
          metrics.violations.expose({ severity: spec.severity, violation_type: spec.violation_type, node_or_service: n });
        }
        break;
      case 'revocation_storm':
      case 'slow_revocation': {
        const reason = spec.kind === 'revocation_storm' ? spec.reason : 'policy_violation';
        for (const n of spec.node_or_service !== undefined ? [spec.node_or_service] : nodes) {
          metrics.revocationEvents.expose({ reason, node_or_service: n });
        }
        break;
      }
      case 'slow_notifications':
        metrics.committeeNotifications.expose({ severity: 'WARNING', recipient_count: String(this.deps.committeeSize) });
        break;
      case 'override_stuck': {
        const started = this.deps.now() - spec.started_minutes_ago * 60_000;
        const record: OverrideRecord = {
          id: this.nextId('override'),
          created_at: this.iso(started),
          idempotency_key: null,
          reason: spec.reason,
          who_triggered: spec.who_triggered,
          ...(spec.node_or_service !== undefined ? { node_or_service: spec.node_or_service } : {}),
          started_at: this.iso(started),
          status: 'active',
          expires_at: null,
          extensions: [],
        };
        this.records.overrides.push(record);
        fault.owned.push(record.id);
        metrics.emergencyOverrides.add({ reason: spec.reason, who_triggered: spec.who_triggered });
        break;
      }
      case 'committee_overload':
        for (let i = 0; i < spec.count; i++) {
          // Mostly non-critical, so holding those (the playbook) brings the count back under 10.
          const severity: CharterSeverity = spec.severity ?? (i % 7 === 6 ? 'CRIMINAL_REFERRAL' : i % 2 === 0 ? 'WARNING' : 'SUSPENSION');
          const violationType = VIOLATION_TYPES[i % VIOLATION_TYPES.length] ?? 'silent_collection';
          const record: InvestigationRecord = {
            id: this.nextId('investigation'),
            created_at: this.iso(),
            idempotency_key: null,
            violation_type: violationType,
            node_or_service: nodes[i % nodes.length] ?? 'node-alpha',
            initiated_by: 'committee',
            severity,
            status: 'open',
            origin: 'fault',
          };
          this.addInvestigation(record);
          fault.owned.push(record.id);
          metrics.investigationsInitiated.add({ violation_type: violationType, initiated_by: 'committee' });
        }
        break;
      default:
        break;
    }
    this.syncGauges();
    return fault;
  }

  /** Undoes what a fault set up when it goes (cleared, used up, or fixed by a reload). */
  private faultRemoved(fault: ActiveFault): void {
    const now = this.iso();
    switch (fault.spec.kind) {
      case 'override_stuck':
        for (const o of this.records.overrides) {
          if (fault.owned.includes(o.id) && o.status === 'active') Object.assign(o, { status: 'ended', ended_at: now });
        }
        break;
      case 'committee_overload':
        for (const i of this.records.investigations) {
          if (fault.owned.includes(i.id) && i.status !== 'closed') {
            if (i.status === 'open') this.countOpen(i.severity, -1);
            Object.assign(i, { status: 'closed', closed_at: now });
          }
        }
        break;
      case 'slow_revocation':
        for (const [id, pending] of this.pendingRevocations) if (pending.faultId === fault.id) this.completeRevocation(id);
        break;
      case 'stale_policy':
        // Cleared without a reload: the policy loads again, as it would once the cause is gone.
        if (this.lastPolicyLoadMs < fault.createdAtMs) this.loadPolicy();
        break;
      default:
        break;
    }
    this.syncGauges();
  }

  // ---- actuator effects (the API validated the bodies and handles idempotency) ----

  /** Node a record is about, for matching node-scoped actuator faults. */
  nodeOfRecord(collection: keyof CharterCollections, id: string): string | undefined {
    const record = (this.records[collection] as CharterRecord[]).find((r) => r.id === id);
    const node = record?.['node_or_service'];
    return typeof node === 'string' ? node : undefined;
  }

  /** Blocks collection for a node, or one metric of it. */
  quarantine(body: QuarantineRequest, key: string): QuarantineRecord {
    const record: QuarantineRecord = this.stamp('quarantine', key, body, { status: 'active' as const });
    if (record.metric_name === undefined) delete record.metric_name;
    this.records.quarantines.push(record);
    return record;
  }

  /** Lifts a quarantine; lifting a lifted one changes nothing. */
  liftQuarantine(id: string, key: string): QuarantineRecord | undefined {
    const record = this.records.quarantines.find((q) => q.id === id);
    if (record && record.status === 'active') Object.assign(record, { status: 'lifted', lifted_at: this.iso(), lift_idempotency_key: key });
    return record;
  }

  /** Revokes data access; under slow_revocation it stays pending (the effect waits for completion). */
  revoke(body: RevocationRequest, key: string): RevocationRecord {
    const slow = this.faults.about('slow_revocation', body.node_or_service)[0];
    const record: RevocationRecord = this.stamp('revocation', key, body, { status: slow ? ('pending' as const) : ('completed' as const) });
    this.records.revocations.push(record);
    this.metrics.revocationEvents.add({ reason: body.reason, node_or_service: body.node_or_service });
    if (slow) {
      const started = this.deps.now();
      this.pendingRevocations.set(record.id, {
        startedMs: started,
        dueMs: slow.spec.pending_ms !== undefined ? started + slow.spec.pending_ms : undefined,
        faultId: slow.id,
      });
    } else {
      const latency = this.revocationLatencyMs(body.node_or_service);
      this.metrics.revocationLatencyMs.observe(latency);
      Object.assign(record, { completed_at: this.iso(), latency_ms: latency });
    }
    return record;
  }

  private completeRevocation(id: string): void {
    const pending = this.pendingRevocations.get(id);
    this.pendingRevocations.delete(id);
    const record = this.records.revocations.find((r) => r.id === id);
    if (!pending || !record || record.status !== 'pending') return;
    const latency = Math.max(1, this.deps.now() - pending.startedMs);
    this.metrics.revocationLatencyMs.observe(latency);
    Object.assign(record, { status: 'completed', completed_at: this.iso(), latency_ms: latency });
  }

  /** Restores access; the record stays, with `restored_at` (a pending one is cancelled). */
  restore(id: string, key: string): RevocationRecord | undefined {
    const record = this.records.revocations.find((r) => r.id === id);
    if (record && record.status !== 'restored') {
      this.pendingRevocations.delete(id);
      Object.assign(record, { status: 'restored', restored_at: this.iso(), restore_idempotency_key: key });
    }
    return record;
  }

  /** Opens an investigation; without a severity, the node's worst in the last 15 min (else WARNING). */
  openInvestigation(body: InvestigationRequest, key: string): InvestigationRecord {
    const severity = body.severity ?? this.worstRecentSeverity(body.node_or_service) ?? 'WARNING';
    const record: InvestigationRecord = this.stamp('investigation', key, body, { severity, status: 'open' as const, origin: 'api' as const });
    this.addInvestigation(record);
    this.metrics.investigationsInitiated.add({ violation_type: body.violation_type, initiated_by: body.initiated_by });
    this.syncGauges();
    return record;
  }

  /** Puts an investigation on hold, which takes it out of violations_under_investigation. */
  holdInvestigation(id: string, body: AnnotatedRequest, key: string): InvestigationRecord | undefined {
    const record = this.records.investigations.find((i) => i.id === id);
    if (record && record.status === 'open') {
      this.countOpen(record.severity, -1);
      Object.assign(record, { status: 'held', held_at: this.iso(), hold_idempotency_key: key, ...annotations(body) });
      this.syncGauges();
    }
    return record;
  }

  /** Ends an emergency override. */
  revokeOverride(id: string, body: AnnotatedRequest, key: string): OverrideRecord | undefined {
    const record = this.records.overrides.find((o) => o.id === id);
    if (record && record.status === 'active') {
      Object.assign(record, { status: 'revoked', revoked_at: this.iso(), revoke_idempotency_key: key, ...annotations(body) });
      this.syncGauges();
    }
    return record;
  }

  /** Extends an emergency override by `minutes` (default 30). */
  extendOverride(id: string, body: AnnotatedRequest, key: string): OverrideRecord | undefined {
    const record = this.records.overrides.find((o) => o.id === id);
    if (record && record.status === 'active') {
      const minutes = body.minutes ?? 30;
      const from = Math.max(this.deps.now(), record.expires_at ? Date.parse(record.expires_at) : 0);
      record.expires_at = this.iso(from + minutes * 60_000);
      record.extensions.push({ at: this.iso(), minutes, ...annotations(body), idempotency_key: key });
    }
    return record;
  }

  /** Reloads the policy; it fixes stale_policy unless that fault says reloads fail. */
  reloadPolicy(key: string): PolicyReloadRecord {
    const failing = this.faults.ofKind('stale_policy').some((f) => f.spec.reloads_fail);
    const base = { id: this.nextId('reload'), created_at: this.iso(), idempotency_key: key };
    let record: PolicyReloadRecord;
    if (failing) {
      record = { ...base, status: 'failed', error: 'policy load failed (stale_policy fault, reloads_fail)' };
    } else {
      const duration = Math.round(this.deps.random.between(40, 180));
      this.loadPolicy(duration);
      this.faults.removeWhere((f) => f.spec.kind === 'stale_policy');
      record = { ...base, status: 'loaded', duration_ms: duration };
    }
    this.records.reloads.push(record);
    this.syncGauges();
    return record;
  }

  /** Notifies the audit committee. */
  notifyCommittee(body: NotificationRequest, key: string): NotificationRecord {
    const recipientCount = typeof body.recipients === 'number' ? body.recipients : body.recipients.length;
    const latency = this.recordNotification(body.severity, recipientCount);
    const record: NotificationRecord = this.stamp('notification', key, body, { recipient_count: recipientCount, latency_ms: latency });
    if (record.node_or_service === undefined) delete record.node_or_service;
    this.records.notifications.push(record);
    return record;
  }
}

function annotations(body: AnnotatedRequest): { by?: string; reason?: string } {
  return { ...(body.by !== undefined ? { by: body.by } : {}), ...(body.reason !== undefined ? { reason: body.reason } : {}) };
}

/**
 * The nodes a violation_flood spreads over: enough that each sees at most 3 violations
 * in 5 min, so the flood trips rule 10 (overall rate) without tripping rule 1 (per node).
 */
export function floodNodes(node: string | undefined, ratePerS: number): string[] {
  if (node !== undefined) return [node];
  const size = Math.max(1, Math.ceil(ratePerS * 100));
  return Array.from({ length: size }, (_, i) => `flood-node-${String(i + 1).padStart(4, '0')}`);
}

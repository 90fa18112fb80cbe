/** The 15 Charter metrics (CHARTER.md), on a registry of their own. */
import { Counter, Gauge, Histogram, Registry, type LabelValues } from 'prom-client';

/** The Charter's violation severities, mildest first. */
export const CHARTER_SEVERITIES = ['WARNING', 'SUSPENSION', 'BAN_1YEAR', 'PERMANENT_BAN', 'CRIMINAL_REFERRAL'] as const;
/** One Charter violation severity. */
export type CharterSeverity = (typeof CHARTER_SEVERITIES)[number];

/** Histogram buckets exactly as the field exporter declares them. */
export const CHARTER_BUCKETS = {
  validationNs: [100, 1e3, 1e4, 1e5, 1e6, 1e7],
  policyLoadMs: [10, 50, 100, 200, 500, 1000],
  violationReportMs: [50, 100, 250, 500, 1000, 2000],
  committeeNotificationMs: [10, 50, 100, 250, 500, 1000],
  revocationMs: [50, 100, 250, 500, 1000, 5000],
} as const;

/** The exposed names of the 15 metrics, as rules and dashboards select them. */
export const CHARTER_METRIC_NAMES = [
  'westworld_charter_violations_total',
  'westworld_charter_forbidden_metric_attempts_total',
  'westworld_charter_data_revocation_events_total',
  'westworld_charter_audit_committee_notifications_total',
  'westworld_charter_investigation_initiated_total',
  'westworld_charter_emergency_override_total',
  'westworld_charter_metric_validation_latency_ns',
  'westworld_charter_policy_load_duration_ms',
  'westworld_charter_violation_report_latency_ms',
  'westworld_charter_committee_notification_latency_ms',
  'westworld_charter_data_revocation_latency_ms',
  'westworld_charter_violations_under_investigation',
  'westworld_charter_audit_committee_size',
  'westworld_charter_policy_last_load_timestamp',
  'westworld_charter_emergency_override_active_count',
] as const;

function seriesKey(labels: LabelValues<string>): string {
  return JSON.stringify(Object.entries(labels).sort(([a], [b]) => a.localeCompare(b)));
}

/**
 * A counter that shows each new label set at 0 until the next tick before it counts,
 * so that `increase()` in Prometheus sees the first event (CHARTER.md, the 11 rules).
 */
export class FreshSeriesCounter<L extends string> {
  private readonly seen = new Set<string>();
  private pending: Array<{ labels: LabelValues<L>; by: number }> = [];

  constructor(private readonly counter: Counter<L>) {}

  /** Exposes the label set at 0 unless it is already exposed; true when it was new. */
  expose(labels: LabelValues<L>): boolean {
    const key = seriesKey(labels);
    if (this.seen.has(key)) return false;
    this.seen.add(key);
    this.counter.inc(labels, 0);
    return true;
  }

  /** Counts `by` events now, or from the next tick on when the label set is new. */
  add(labels: LabelValues<L>, by = 1): void {
    if (this.expose(labels)) this.pending.push({ labels, by });
    else this.counter.inc(labels, by);
  }

  /** Applies the counts held back for new label sets (called once per tick, first thing). */
  flush(): void {
    const due = this.pending;
    this.pending = [];
    for (const { labels, by } of due) this.counter.inc(labels, by);
  }
}

/** The simulated exporter: the 15 metrics, registered on `registry` only. */
export class CharterMetrics {
  /** Never the global registry: the controller may run in the same process. */
  readonly registry = new Registry();

  readonly violations: FreshSeriesCounter<'severity' | 'violation_type' | 'node_or_service'>;
  readonly forbiddenAttempts: FreshSeriesCounter<'metric_name' | 'node_or_service' | 'status'>;
  readonly revocationEvents: FreshSeriesCounter<'reason' | 'node_or_service'>;
  readonly committeeNotifications: FreshSeriesCounter<'severity' | 'recipient_count'>;
  readonly investigationsInitiated: FreshSeriesCounter<'violation_type' | 'initiated_by'>;
  readonly emergencyOverrides: FreshSeriesCounter<'reason' | 'who_triggered'>;

  readonly validationLatencyNs: Histogram;
  readonly policyLoadDurationMs: Histogram;
  readonly violationReportLatencyMs: Histogram;
  readonly committeeNotificationLatencyMs: Histogram;
  readonly revocationLatencyMs: Histogram;

  readonly underInvestigation: Gauge<'severity'>;
  readonly committeeSize: Gauge;
  readonly policyLastLoadTimestamp: Gauge;
  readonly overridesActive: Gauge;

  private readonly freshCounters: Array<FreshSeriesCounter<string>>;

  constructor() {
    const registers = [this.registry];
    const counter = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
      new FreshSeriesCounter(new Counter<L>({ name: `westworld_charter_${name}`, help, labelNames, registers }));
    const histogram = (name: string, help: string, buckets: readonly number[]) =>
      new Histogram({ name: `westworld_charter_${name}`, help, buckets: [...buckets], registers });
    const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[] = []) =>
      new Gauge<L>({ name: `westworld_charter_${name}`, help, labelNames, registers });

    this.violations = counter('violations_total', 'Charter violations detected', ['severity', 'violation_type', 'node_or_service']);
    this.forbiddenAttempts = counter('forbidden_metric_attempts_total', 'Attempts to collect a forbidden metric', ['metric_name', 'node_or_service', 'status']);
    this.revocationEvents = counter('data_revocation_events_total', 'Data access revocations', ['reason', 'node_or_service']);
    this.committeeNotifications = counter('audit_committee_notifications_total', 'Audit committee notifications sent', ['severity', 'recipient_count']);
    this.investigationsInitiated = counter('investigation_initiated_total', 'Investigations opened', ['violation_type', 'initiated_by']);
    this.emergencyOverrides = counter('emergency_override_total', 'Emergency overrides executed', ['reason', 'who_triggered']);

    this.validationLatencyNs = histogram('metric_validation_latency_ns', 'Metric validation latency (ns)', CHARTER_BUCKETS.validationNs);
    this.policyLoadDurationMs = histogram('policy_load_duration_ms', 'Policy load duration (ms)', CHARTER_BUCKETS.policyLoadMs);
    this.violationReportLatencyMs = histogram('violation_report_latency_ms', 'End-to-end violation report latency (ms)', CHARTER_BUCKETS.violationReportMs);
    this.committeeNotificationLatencyMs = histogram('committee_notification_latency_ms', 'Committee notification latency (ms), SLA < 1 s', CHARTER_BUCKETS.committeeNotificationMs);
    this.revocationLatencyMs = histogram('data_revocation_latency_ms', 'Data revocation latency (ms)', CHARTER_BUCKETS.revocationMs);

    this.underInvestigation = gauge('violations_under_investigation', 'Open investigations now', ['severity']);
    this.committeeSize = gauge('audit_committee_size', 'Members of the audit committee');
    this.policyLastLoadTimestamp = gauge('policy_last_load_timestamp', 'Unix seconds of the last successful policy load');
    this.overridesActive = gauge('emergency_override_active_count', 'Emergency overrides in effect now');

    this.freshCounters = [
      this.violations, this.forbiddenAttempts, this.revocationEvents,
      this.committeeNotifications, this.investigationsInitiated, this.emergencyOverrides,
    ] as Array<FreshSeriesCounter<string>>;
  }

  /** Applies every count held back for a new label set. */
  flushPending(): void {
    for (const c of this.freshCounters) c.flush();
  }

  /** The Prometheus text exposition of the 15 metrics. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

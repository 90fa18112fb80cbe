import type { Generated } from 'kysely';

/** Table shapes of the knowledge store: one schema for SQLite and PostgreSQL (times are ISO text, JSON is text). */

export interface ObservationTable {
  id: string;
  source: string;
  dedup_key: string;
  received_at: string;
  name: string;
  status: string;
  fingerprint: string;
  labels: string;
  payload: string;
  processed_at: string | null;
  outcome: string | null;
}

export interface FindingTable {
  id: string;
  observation_id: string;
  incident_id: string | null;
  fingerprint: string;
  name: string;
  kind: string;
  severity: string;
  labels: string;
  evidence: string;
  created_at: string;
  resolved_at: string | null;
}

export interface IncidentTable {
  id: string;
  playbook: string;
  subject_key: string;
  labels: string;
  state: string;
  /** 1 while the incident is active: a unique index on (playbook, subject_key, active_slot) keeps one active incident per key. */
  active_slot: number | null;
  created_at: string;
  updated_at: string;
  closed_at: string | null;
}

export interface PlanTable {
  incident_id: string;
  machine: string;
  state: string;
  snapshot: string;
  version: number;
  policy: string;
  updated_at: string;
}

export interface PlanEventTable {
  id: string;
  /** Arrival order (events of one millisecond included): bigserial on PostgreSQL, max+1 under SQLite's single writer. */
  seq: Generated<number>;
  incident_id: string;
  type: string;
  payload: string;
  created_at: string;
  applied_at: string | null;
}

export interface DecisionTable {
  id: string;
  incident_id: string;
  at: string;
  machine: string;
  from_state: string;
  to_state: string;
  event: string;
  guards: string;
  evidence: string;
  policy: string;
  actions: string;
  labels: string;
}

export interface ActionTable {
  id: string;
  incident_id: string;
  step: string;
  iteration: number;
  type: string;
  params: string;
  status: string;
  attempts: number;
  idempotency_key: string;
  outcome: string | null;
  /** Distinct approvals needed before the action may run; null when it needs none. */
  quorum: number | null;
  approvals: string;
  last_error: string | null;
  created_at: string;
  updated_at: string;
}

export interface TimerTable {
  id: string;
  incident_id: string;
  name: string;
  due_at: string;
  fired_at: string | null;
}

/** The state of a streaming detector, per (sensor, subject): what lets a for-duration span ticks. */
export interface DetectorStateTable {
  key: string;
  state: string;
  updated_at: string;
}

/** Loop-wide switches (the pause), set by people through the API or the CLI. */
export interface ControlTable {
  key: string;
  value: string;
  updated_at: string;
}

/** The hash chain over every write to a table the API reads (tamper evidence, `mapek audit verify`). */
export interface AuditLedgerTable {
  seq: number;
  tbl: string;
  row_key: string;
  row_hash: string;
  prev_hash: string;
  hash: string;
  at: string;
}

/** Where the chain restarts after retention pruned the links before it. */
export interface AuditCheckpointTable {
  seq: number;
  hash: string;
  at: string;
  pruned_incidents: number;
}

/** The whole database, as Kysely sees it. */
export interface Database {
  observations: ObservationTable;
  findings: FindingTable;
  incidents: IncidentTable;
  plans: PlanTable;
  plan_events: PlanEventTable;
  decisions: DecisionTable;
  actions: ActionTable;
  timers: TimerTable;
  detector_states: DetectorStateTable;
  controls: ControlTable;
  audit_ledger: AuditLedgerTable;
  audit_checkpoints: AuditCheckpointTable;
}

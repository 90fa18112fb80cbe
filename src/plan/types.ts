/** What plans ask for and what they hear back: plain data, no I/O. */

/** Every kind of action an actuator can run. */
export type ActionType =
  | 'charter.investigation'
  | 'charter.quarantine'
  | 'charter.revocation'
  | 'charter.notification'
  | 'prometheus.severity'
  | 'prometheus.verify'
  | 'page'
  | 'slack.message'
  | 'pagerduty.event'
  | 'email.message'
  | 'http.call'
  | 'charter.policy_reload'
  | 'charter.investigation_hold'
  | 'charter.override_revoke'
  | 'charter.read';

/** A plan's request for one durable action. `step` is unique within an incident's plan. */
export interface ActionRequest {
  step: string;
  type: ActionType;
  params: Record<string, unknown>;
  /**
   * 1 unless the plan deliberately repeats the step (a second policy reload): a new iteration is a
   * new action with a new Idempotency-Key, while a redelivery of the same iteration is not.
   */
  iteration?: number;
  /** When set, the action waits for this many distinct approvals (never executed by default). */
  approvalQuorum?: number;
}

/** A plan's request for a durable timer: an absolute deadline is stored, a delayed job delivers it. */
export interface TimerRequest {
  name: string;
  delayMs: number;
}

/** Events a plan hears; every event carries an id that is applied at most once. */
export type PlanEvent =
  | { type: 'incident.opened'; labels: Record<string, string>; findingId: string }
  | { type: 'finding.added'; findingId: string; name: string; status: string }
  | { type: 'action.succeeded'; step: string; actionId: string; result: Record<string, unknown> }
  | { type: 'action.failed'; step: string; actionId: string; error: string }
  | { type: 'timer.fired'; name: string }
  | { type: 'approval.granted'; step: string; actionId: string; by: string[] }
  | { type: 'approval.rejected'; step: string; actionId: string; by: string; comment?: string }
  | { type: 'incident.acknowledged'; by: string; comment?: string }
  | { type: 'finding.resolved'; findingId: string; name: string };

/** The incident states of DESIGN.md. */
export type IncidentState = 'open' | 'remediating' | 'verifying' | 'resolved' | 'escalated';

/** One guard the machine evaluated while taking a step, and what it said. */
export interface GuardOutcome {
  name: string;
  result: boolean;
}

/** A command to mark an action that awaits approval as expired (its deadline passed). */
export interface ExpireRequest {
  step: string;
  reason: string;
}

/** The result of one pure plan step. */
export interface StepResult {
  snapshot: unknown;
  from: string;
  to: string;
  incidentState: IncidentState;
  actions: ActionRequest[];
  timers: TimerRequest[];
  expire: ExpireRequest[];
  guards: GuardOutcome[];
  /** The values and thresholds the step saw (severity found, verification values). */
  evidence: Record<string, unknown>;
}

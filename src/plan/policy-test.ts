/**
 * Policy tests: given observations at simulated times (alerts, sensor samples), the outcomes the
 * world answers with, approvals and acknowledgements, expect these actions in this order and this
 * end state. Pure: a fake clock fires due timers in order, the real routing (findingFromAlert, the
 * pack's routes, the sensors' threshold rules) opens and joins incidents as knowledge would, and
 * the real playbooks step through startPlan/stepPlan with a JSON round trip, so a change to the
 * pack shows in the result. The execute-side policies the loop applies before calling anyone
 * (dry run, shadow, propose, the safety brake, budgets) are applied as runAction does.
 */
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { budgetName, budgetsFor, countsAgainst } from './budgets.ts';
import { alertDedupKey, findingFromAlert, resolvedFindingId, subjectKey, type AlertSignal, type FindingDraft, type PlaybookRoute } from '../analyze/findings.ts';
import { judgeSample, sensorFingerprint, type SensorVerdict } from '../analyze/sensor-findings.ts';
import { parseDuration } from '../clock.ts';
import type { Pack } from '../config.ts';
import { stableId } from '../ids.ts';
import { playbooks } from './playbooks/index.ts';
import { startPlan, stepPlan } from './step.ts';
import type { ActionRequest, GuardOutcome, IncidentState, PlanEvent, StepResult } from './types.ts';

// ---------------------------------------------------------------------------------------------
// The test document

/** Scenario times: a duration from the start (`0s`, `90s`, `5m`), an ISO time, or milliseconds. */
const isIsoTime = (v: string): boolean => /^\d{4}-\d{2}-\d{2}/.test(v) && !Number.isNaN(Date.parse(v));
const time = z.union([z.number().nonnegative(), z.string().min(1)]).refine((v) => typeof v === 'number' || isDuration(v) || isIsoTime(v), {
  message: 'expected a time from the start such as 0s, 90s, 5m, or an ISO time',
});
const durationText = z.string().refine(isDuration, 'expected a duration such as 30s, 5m, 2h');
const labels = z.record(z.string(), z.string());

/** Parses `30s`, `5m`, and compound offsets such as `1m30s` or `2h15m` into ms; throws on anything else. */
export function parseOffset(text: string): number {
  const t = text.trim();
  if (!/^(\d+(?:\.\d+)?(?:ms|s|m|h|d))+$/.test(t)) return parseDuration(t);
  let total = 0;
  for (const part of t.match(/\d+(?:\.\d+)?(?:ms|s|m|h|d)/g) ?? []) total += parseDuration(part);
  return total;
}

function isDuration(v: string): boolean {
  try {
    parseOffset(v);
    return true;
  } catch {
    return false;
  }
}

const AlertSchema = z
  .object({
    at: time,
    labels: labels.refine((l) => typeof l.alertname === 'string' && l.alertname.length > 0, 'an alert needs an alertname label'),
    status: z.enum(['firing', 'resolved']).default('firing'),
    /** Defaults to `at`: a re-send keeps the startsAt of the first notification. */
    startsAt: time.optional(),
    fingerprint: z.string().min(1).optional(),
    annotations: labels.default({}),
  })
  .strict();

const SampleSchema = z.object({ at: time, sensor: z.string().min(1), subject: labels, value: z.number() }).strict();

const OutcomeSchema = z
  .object({
    /** The action's step; `*` matches any run of characters (`verify-*`). */
    step: z.string().min(1).optional(),
    type: z.string().min(1).optional(),
    /** The rule holds for actions run at or after this time... */
    from: time.optional(),
    /** ...and before this one. */
    until: time.optional(),
    /** How long the action takes to answer (default at once). */
    after: durationText.optional(),
    /** The actuator's answer (default: a success, see DEFAULT_RESULTS). */
    result: z.record(z.string(), z.unknown()).optional(),
    /** The action dies (retries spent, or a permanent error) with this error. */
    fail: z.string().min(1).optional(),
  })
  .strict()
  .refine((o) => !(o.result && o.fail), 'an outcome has either result or fail, not both')
  .refine((o) => o.step !== undefined || o.type !== undefined, 'an outcome names a step or a type');

const ApprovalSchema = z
  .object({
    at: time,
    step: z.string().min(1),
    by: z.string(),
    decision: z.enum(['approve', 'reject']).default('approve'),
    comment: z.string().optional(),
    /** The incident, by opening order from 1 (default: whichever holds the step awaiting approval). */
    incident: z.number().int().min(1).optional(),
  })
  .strict();

const AckSchema = z.object({ at: time, by: z.string().min(1), comment: z.string().optional(), incident: z.number().int().min(1).optional() }).strict();

const GivenSchema = z
  .object({
    alerts: z.array(AlertSchema).default([]),
    samples: z.array(SampleSchema).default([]),
    /** Incidents before the test began (the flap guard counts them). */
    earlierIncidents: z.array(z.object({ playbook: z.string().min(1), subject: labels, ago: durationText }).strict()).default([]),
    outcomes: z.array(OutcomeSchema).default([]),
    approvals: z.array(ApprovalSchema).default([]),
    acks: z.array(AckSchema).default([]),
    /** The safety brake at the start. */
    brake: z.enum(['engaged', 'released']).default('released'),
    /** Budget already spent before the start: `count` effects of `actionType`, `ago` before it. */
    spent: z.array(z.object({ actionType: z.string().min(1), count: z.number().int().min(1), ago: durationText.default('0s') }).strict()).default([]),
  })
  .strict()
  .refine((g) => g.alerts.length + g.samples.length > 0, 'given: at least one alert or sensor sample');

const ACTION_STATUSES = ['planned', 'awaiting_approval', 'running', 'succeeded', 'failed', 'dead', 'skipped'] as const;
const INCIDENT_STATES = ['open', 'remediating', 'verifying', 'resolved', 'escalated'] as const;

const ExpectedActionSchema = z
  .object({
    /** The step; `*` matches any run of characters (`verify-*`). */
    step: z.string().min(1).optional(),
    type: z.string().min(1).optional(),
    /** A subset of the params (objects compared key by key, arrays whole). */
    params: z.record(z.string(), z.unknown()).optional(),
    status: z.enum(ACTION_STATUSES).optional(),
    /** When the plan asked for it. */
    at: time.optional(),
    incident: z.number().int().min(1).optional(),
    approvalQuorum: z.number().int().min(1).optional(),
    /** The members whose approvals counted, in order. */
    approvedBy: z.array(z.string()).optional(),
    /** This entry stands for this many consecutive actions (each must match it). */
    repeat: z.number().int().min(1).optional(),
  })
  .strict();

const TransitionSchema = z.union([
  z.string().regex(/^\s*\S+\s*->\s*\S+(\s+on\s+\S+)?\s*$/, 'expected "from -> to" or "from -> to on event.type"'),
  z.object({ from: z.string(), to: z.string(), event: z.string().optional() }).strict(),
]);

const IncidentExpectSchema = z
  .object({
    playbook: z.string().optional(),
    /** The actions of this incident only, in the order its plan asked. */
    actions: z.array(ExpectedActionSchema).optional(),
    state: z.enum(INCIDENT_STATES).optional(),
    labels: labels.optional(),
    transitions: z.array(TransitionSchema).optional(),
    evidence: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();

const ExpectSchema = z
  .object({
    /** Every action asked for, in the order the plans asked (all incidents). */
    actions: z.array(ExpectedActionSchema).optional(),
    /** The state of the last incident opened. */
    state: z.enum(INCIDENT_STATES).optional(),
    /** The plan steps of the last incident opened, exactly, from `(start)`. */
    transitions: z.array(TransitionSchema).optional(),
    /** A subset of the last step's evidence of the last incident opened. */
    evidence: z.record(z.string(), z.unknown()).optional(),
    /** How many incidents opened, or each of them in opening order. */
    incidents: z.union([z.number().int().min(0), z.array(IncidentExpectSchema)]).optional(),
    brake: z.enum(['engaged', 'released']).optional(),
  })
  .strict()
  .refine((e) => Object.keys(e).length > 0, 'expect: at least one expectation');

const PolicyTestSchema = z
  .object({
    name: z.string().min(1),
    description: z.string().optional(),
    /** Where the relative times count from (default 2030-01-01T00:00:00Z). */
    start: z.string().refine(isIsoTime, 'expected an ISO time such as 2030-01-01T00:00:00Z').optional(),
    /** Stop the clock here (default: when nothing is left to happen, at most 7 days in). */
    until: time.optional(),
    /** Pack settings merged over the pack under test, for this test only. */
    pack: z.record(z.string(), z.unknown()).optional(),
    given: GivenSchema,
    expect: ExpectSchema,
  })
  .strict();

/** One policy test as written. */
export type PolicyTest = z.infer<typeof PolicyTestSchema>;
type ExpectedAction = z.infer<typeof ExpectedActionSchema>;
type TransitionText = z.infer<typeof TransitionSchema>;

/** A test file that cannot be read as a policy test. */
export class PolicyTestError extends Error {
  override readonly name = 'PolicyTestError';
}

/** Parses and validates one test (YAML text); errors name the file and the field. */
export function parsePolicyTest(text: string, file = '(test)'): PolicyTest {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new PolicyTestError(`${file}: not valid YAML: ${(err as Error).message}`);
  }
  const parsed = PolicyTestSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new PolicyTestError(`${file}: ${issue.path.map(String).join('.') || '(root)'}: ${issue.message}`);
  }
  return parsed.data;
}

// ---------------------------------------------------------------------------------------------
// The simulated world

/** What the runner needs from the execute stage, handed in (the plan stage does not import it). */
export interface RunnerOptions {
  /** Action types that only read: they run even in dry run, shadow, propose or under the brake (execute's READ_ONLY). */
  readOnly: ReadonlySet<string>;
}

/** What an action answers when the test says nothing about it: a success (anything else answers {}). */
export const DEFAULT_RESULTS: Readonly<Record<string, Record<string, unknown>>> = {
  'prometheus.severity': { severities: [] },
  'prometheus.verify': { holds: true, value: 0 },
  'charter.read': { count: 0, items: [] },
};

/** The default start of a test's clock. */
export const DEFAULT_START = Date.parse('2030-01-01T00:00:00Z');
const MAX_SPAN_MS = 7 * 86_400_000;
const MAX_ITEMS = 100_000;

/** One action as the run left it. */
export interface RunAction {
  id: string;
  incident: number;
  step: string;
  type: string;
  params: Record<string, unknown>;
  iteration: number;
  approvalQuorum?: number;
  status: (typeof ACTION_STATUSES)[number];
  /** Ms from the start. */
  requestedAt: number;
  finishedAt?: number;
  quorum: number | null;
  approvals: Array<{ by: string; at: number; decision: 'approve' | 'reject'; comment?: string }>;
  outcome?: Record<string, unknown>;
  error?: string;
}

/** One plan step as the run took it. */
export interface RunStep {
  at: number;
  event: PlanEvent;
  from: string;
  to: string;
  incidentState: IncidentState;
  actions: string[];
  timers: Array<{ name: string; delayMs: number }>;
  expire: string[];
  guards: GuardOutcome[];
  evidence: Record<string, unknown>;
}

/** One incident as the run left it. */
export interface RunIncident {
  index: number;
  id: string;
  playbook: string;
  subjectKey: string;
  labels: Record<string, string>;
  state: IncidentState;
  openedAt: number;
  closedAt?: number;
  active: boolean;
  findings: string[];
  steps: RunStep[];
  snapshot?: unknown;
  timers: Map<string, number>;
  acks: Set<string>;
}

/** Everything a run did, for the expectations and for reading. */
export interface Run {
  start: number;
  end: number;
  incidents: RunIncident[];
  actions: RunAction[];
  brake: boolean;
  /** Approvals the trust model refused (as the API would answer 400/409). */
  refused: Array<{ at: number; step: string; by: string; reason: string }>;
  /** Readable lines, one per thing that happened. */
  log: string[];
  /** Why the run stopped early, when it did. */
  stopped?: string;
}

/** Formats ms from the start as 0s, 45s, 2m, 1m30s, 1h5m. */
export function offset(ms: number): string {
  if (ms < 0) return `-${offset(-ms)}`;
  if (ms === 0) return '0s';
  const parts: string[] = [];
  let rest = ms;
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  if (rest > 0) parts.push(`${rest}ms`);
  return parts.join('');
}

/** The pack's alert → playbook routes (as the loop builds them). */
export function routesOf(pack: Pack): PlaybookRoute[] {
  return Object.values(playbooks).flatMap((p) => {
    const r = p.route(pack);
    return r ? [{ playbook: p.name, ...r }] : [];
  });
}

function globMatch(pattern: string, text: string): boolean {
  const re = new RegExp(`^${pattern.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
  return re.test(text);
}

const TERMINAL: readonly IncidentState[] = ['resolved', 'escalated'];

function describeEvent(e: PlanEvent): string {
  if ('step' in e) return `${e.type}(${e.step})`;
  if (e.type === 'timer.fired') return `timer.fired(${e.name})`;
  if ('by' in e) return `${e.type}(${String(e.by)})`;
  return e.type;
}

/** Runs a test's scenario under a pack. Throws only on a scenario the pack cannot run (an unknown sensor or playbook). */
export function runScenario(test: PolicyTest, pack: Pack, options: RunnerOptions): Run {
  const start = test.start ? Date.parse(test.start) : DEFAULT_START;
  const at = (v: string | number): number => (typeof v === 'number' ? v : isDuration(v) ? parseOffset(v) : Date.parse(v) - start);
  const until = test.until === undefined ? MAX_SPAN_MS : at(test.until);
  const given = test.given;
  const routes = routesOf(pack);
  const run: Run = { start, end: 0, incidents: [], actions: [], brake: given.brake === 'engaged', refused: [], log: [] };
  const findings = new Map<string, { incident?: RunIncident; name: string; resolved: boolean }>();
  const seenObservations = new Set<string>();
  const detectorStates = new Map<string, SensorVerdict['state']>();
  const spent = given.spent.map((s) => ({ type: s.actionType, count: s.count, at: -parseOffset(s.ago) }));
  const earlier = given.earlierIncidents.map((e) => ({ playbook: e.playbook, subjectKey: subjectKey(e.subject), at: -parseOffset(e.ago) }));
  const cooldownMs = parseDuration(pack.reopenCooldown);
  const flapWindowMs = parseDuration(pack.flapGuard.window);

  // The clock: items run in time order, ties in the order they were scheduled.
  let now = 0;
  let seq = 0;
  const queue: Array<{ at: number; seq: number; run: () => void }> = [];
  const schedule = (when: number, fn: () => void) => queue.push({ at: when, seq: seq++, run: fn });
  const log = (line: string) => run.log.push(`[${offset(now)}] ${line}`);

  function deliver(inc: RunIncident, event: PlanEvent): void {
    const playbook = playbooks[inc.playbook];
    if (!playbook) throw new PolicyTestError(`incident ${inc.id}: no playbook ${inc.playbook} in the registry`);
    let result: StepResult;
    if (inc.snapshot === undefined) {
      if (event.type !== 'incident.opened') throw new PolicyTestError(`incident ${inc.id}: first event is ${event.type}, not incident.opened`);
      const subject = { ...inc.labels };
      delete subject.alertname;
      const since = now - flapWindowMs;
      const recent =
        run.incidents.filter((o) => o !== inc && o.playbook === inc.playbook && o.subjectKey === inc.subjectKey && o.openedAt >= since).length +
        earlier.filter((e) => e.playbook === inc.playbook && e.subjectKey === inc.subjectKey && e.at >= since).length;
      result = startPlan(playbook, playbook.input(pack, { labels: event.labels ?? inc.labels, subject, recentIncidents: recent }));
    } else {
      result = stepPlan(playbook, inc.snapshot, event);
    }
    // Knowledge keeps only what survives JSON.
    inc.snapshot = JSON.parse(JSON.stringify(result.snapshot));
    inc.steps.push({
      at: now,
      event,
      from: result.from,
      to: result.to,
      incidentState: result.incidentState,
      actions: result.actions.map((a) => a.step),
      timers: result.timers,
      expire: result.expire.map((e) => e.step),
      guards: result.guards,
      evidence: result.evidence,
    });
    const commands = [
      ...result.actions.map((a) => `asks ${a.step} (${a.type}${a.approvalQuorum ? `, quorum ${a.approvalQuorum}` : ''})`),
      ...result.timers.map((t) => `arms ${t.name} (+${offset(t.delayMs)})`),
      ...result.expire.map((e) => `expires ${e.step}`),
    ];
    log(`${inc.id} ${result.from} --${describeEvent(event)}--> ${result.to}${commands.length ? `: ${commands.join(', ')}` : ''}`);
    for (const req of result.actions) insertAction(inc, req);
    for (const t of result.timers) {
      if (inc.timers.has(t.name)) continue; // a timer is stored once per incident and name
      inc.timers.set(t.name, now + t.delayMs);
      schedule(now + t.delayMs, () => deliver(inc, { type: 'timer.fired', name: t.name }));
    }
    for (const e of result.expire) {
      for (const a of run.actions) {
        if (a.incident === inc.index && a.step === e.step && a.status === 'awaiting_approval') {
          a.status = 'skipped';
          a.outcome = { expired: e.reason };
          a.finishedAt = now;
        }
      }
    }
    inc.state = result.incidentState;
    if (TERMINAL.includes(result.incidentState)) {
      inc.active = false;
      inc.closedAt = now;
    }
  }

  function insertAction(inc: RunIncident, req: ActionRequest): void {
    const iteration = req.iteration ?? 1;
    if (run.actions.some((a) => a.incident === inc.index && a.step === req.step && a.iteration === iteration)) return;
    const action: RunAction = {
      id: `${inc.id}/${req.step}${iteration > 1 ? `#${iteration}` : ''}`,
      incident: inc.index,
      step: req.step,
      type: req.type,
      params: req.params,
      iteration,
      ...(req.approvalQuorum ? { approvalQuorum: req.approvalQuorum } : {}),
      status: req.approvalQuorum ? 'awaiting_approval' : 'planned',
      requestedAt: now,
      quorum: req.approvalQuorum ?? null,
      approvals: [],
    };
    run.actions.push(action);
    if (action.status === 'planned') schedule(now, () => execute(action));
  }

  function finish(action: RunAction, status: 'succeeded' | 'dead' | 'skipped', outcome: Record<string, unknown>, error?: string): void {
    if (action.status !== 'planned' && action.status !== 'running') return;
    action.status = status;
    action.outcome = outcome;
    action.finishedAt = now;
    if (error) action.error = error;
    const inc = run.incidents[action.incident - 1]!;
    const event: PlanEvent =
      status === 'dead'
        ? { type: 'action.failed', step: action.step, actionId: action.id, error: error ?? 'failed' }
        : { type: 'action.succeeded', step: action.step, actionId: action.id, result: outcome };
    deliver(inc, event);
  }

  function execute(action: RunAction): void {
    if (action.status !== 'planned' && action.status !== 'running') return;
    action.status = 'running';
    const readOnly = options.readOnly.has(action.type);
    if ((pack.dryRun || pack.autonomy === 'shadow') && !readOnly) {
      const mode = pack.dryRun ? { dryRun: true } : { shadow: true };
      log(`${action.id} skipped (${pack.dryRun ? 'dry run' : 'shadow'})`);
      finish(action, 'skipped', { ...mode, wouldCall: action.type, params: action.params });
      return;
    }
    if (!readOnly && action.approvals.length === 0 && action.quorum === null) {
      const hold = pack.autonomy === 'propose' ? 'autonomy is propose' : action.type.startsWith('charter.') && run.brake ? 'safety brake engaged' : null;
      if (hold) {
        action.status = 'awaiting_approval';
        action.quorum = 1;
        action.outcome = { held: hold };
        log(`${action.id} held for approval: ${hold}`);
        return;
      }
    }
    for (const budget of budgetsFor(pack.budgets, action.type, readOnly)) {
      const since = now - parseDuration(budget.per);
      const mine = run.incidents.find((i) => i.index === action.incident);
      const sameSubject = (a: RunAction) => {
        const other = run.incidents.find((i) => i.index === a.incident);
        return !budget.perSubject || (other !== undefined && mine !== undefined && other.playbook === mine.playbook && other.subjectKey === mine.subjectKey);
      };
      const used =
        run.actions.filter((a) => countsAgainst(budget, a.type) && a.status === 'succeeded' && (a.finishedAt ?? -Infinity) >= since && sameSubject(a)).length +
        (budget.perSubject ? 0 : spent.filter((s) => countsAgainst(budget, s.type) && s.at >= since).reduce((n, s) => n + s.count, 0));
      if (used >= budget.max) {
        const name = budgetName(budget);
        const error = `budget ${name} spent (${used} of ${budget.max} per ${budget.per})`;
        log(`${action.id} dead: ${error}`);
        finish(action, 'dead', { budgetSpent: { budget: name, actionType: action.type, max: budget.max, per: budget.per, spent: used } }, error);
        return;
      }
    }
    const rule = given.outcomes.find(
      (o) =>
        (o.step === undefined || globMatch(o.step, action.step)) &&
        (o.type === undefined || o.type === action.type) &&
        (o.from === undefined || now >= at(o.from)) &&
        (o.until === undefined || now < at(o.until)),
    );
    const answer = () => {
      if (rule?.fail) {
        log(`${action.id} dead: ${rule.fail}`);
        finish(action, 'dead', { error: rule.fail }, rule.fail);
      } else {
        const result = rule?.result ?? DEFAULT_RESULTS[action.type] ?? {};
        log(`${action.id} succeeded ${JSON.stringify(result)}`);
        finish(action, 'succeeded', result);
      }
    };
    const latency = rule?.after ? parseOffset(rule.after) : 0;
    if (latency > 0) schedule(now + latency, answer);
    else answer();
  }

  function engageBrake(reason: string): void {
    if (!run.brake) log(`safety brake engaged: ${reason}`);
    run.brake = true;
  }

  function resolveFinding(id: string): void {
    const f = findings.get(id);
    if (!f || f.resolved) {
      log(`resolution of an unknown or already resolved finding ${id}`);
      return;
    }
    f.resolved = true;
    log(`finding ${f.name} resolved`);
    if (f.incident) deliver(f.incident, { type: 'finding.resolved', findingId: id, name: f.name });
  }

  /** Stores a finding once and opens or joins the incident of its (playbook, subject); returns the plan event to deliver. */
  function recordFinding(draft: FindingDraft, status: string): { inc: RunIncident; event: PlanEvent } | null {
    findings.set(draft.id, { name: draft.name, resolved: false });
    if (!draft.route) {
      log(`finding ${draft.name} recorded, no playbook: ${draft.unrouted ?? 'unrouted'}`);
      return null;
    }
    const { playbook, subject, subjectKey: key } = draft.route;
    if (!playbooks[playbook]) throw new PolicyTestError(`finding ${draft.name} routes to ${playbook}, which is not in the playbook registry`);
    const active = run.incidents.find((i) => i.playbook === playbook && i.subjectKey === key && i.active);
    const recent = active
      ? undefined
      : cooldownMs > 0
        ? run.incidents
            .filter((i) => i.playbook === playbook && i.subjectKey === key && i.closedAt !== undefined && i.closedAt >= now - cooldownMs)
            .sort((a, b) => b.closedAt! - a.closedAt!)[0]
        : undefined;
    const joined = active ?? recent;
    findings.get(draft.id)!.incident = joined;
    if (joined) {
      joined.findings.push(draft.id);
      log(`finding ${draft.name} joins ${joined.id}`);
      return { inc: joined, event: { type: 'finding.added', findingId: draft.id, name: draft.name, status } };
    }
    const inc: RunIncident = {
      index: run.incidents.length + 1,
      id: `inc-${run.incidents.length + 1}`,
      playbook,
      subjectKey: key,
      labels: { ...subject, alertname: draft.name },
      state: 'open',
      openedAt: now,
      active: true,
      findings: [draft.id],
      steps: [],
      timers: new Map(),
      acks: new Set(),
    };
    run.incidents.push(inc);
    findings.get(draft.id)!.incident = inc;
    log(`finding ${draft.name} opens ${inc.id} (${playbook}, ${JSON.stringify(subject)})`);
    return { inc, event: { type: 'incident.opened', labels: draft.labels, findingId: draft.id } };
  }

  function receiveAlert(a: z.infer<typeof AlertSchema>): void {
    const startsAt = new Date(start + at(a.startsAt ?? a.at)).toISOString();
    const fingerprint = a.fingerprint ?? stableId('fp', subjectKey(a.labels));
    const alert: AlertSignal = { status: a.status, labels: a.labels, annotations: a.annotations, startsAt, fingerprint };
    const key = alertDedupKey(fingerprint, a.status, startsAt);
    if (seenObservations.has(key)) {
      log(`alert ${a.labels.alertname} (${a.status}) deduplicated: a re-send`);
      return;
    }
    seenObservations.add(key);
    const resolvedId = resolvedFindingId(alert);
    if (resolvedId) {
      resolveFinding(resolvedId);
      return;
    }
    const draft = findingFromAlert(alert, routes);
    if (!draft) return;
    if (findings.has(draft.id)) {
      log(`alert ${draft.name}: finding already known`);
      return;
    }
    const opened = recordFinding(draft, a.status);
    if (pack.brake.alertnames.includes(draft.name)) engageBrake(`alert ${draft.name} fired`);
    if (opened) deliver(opened.inc, opened.event);
  }

  function receiveSample(s: z.infer<typeof SampleSchema>): void {
    const sensor = pack.sensors.find((x) => x.name === s.sensor);
    if (!sensor) throw new PolicyTestError(`sample at ${String(s.at)}: the pack has no sensor ${s.sensor}`);
    const when = start + at(s.at);
    const dedup = `sensor|${sensor.name}|${subjectKey(s.subject)}|${when}`;
    if (seenObservations.has(dedup)) return;
    seenObservations.add(dedup);
    const stateKey = `${sensor.name}|${sensorFingerprint(sensor.name, s.subject)}`;
    const verdict = judgeSample(sensor, detectorStates.get(stateKey) ?? null, { at: when, value: s.value, subject: s.subject });
    detectorStates.set(stateKey, verdict.state);
    if (verdict.resolvedFindingId) {
      resolveFinding(verdict.resolvedFindingId);
      return;
    }
    if (!verdict.draft) return;
    const opened = findings.has(verdict.draft.id) ? null : recordFinding(verdict.draft, 'firing');
    if (pack.brake.sensors.includes(sensor.name)) engageBrake(`sensor ${sensor.name} fired`);
    if (opened) deliver(opened.inc, opened.event);
  }

  function decide(ap: z.infer<typeof ApprovalSchema>): void {
    const name = ap.by.trim();
    const refuse = (reason: string) => {
      run.refused.push({ at: now, step: ap.step, by: ap.by, reason });
      log(`${ap.decision} of ${ap.step} by "${ap.by}" refused: ${reason}`);
    };
    if (!name) return refuse('a member name is required');
    if (pack.committee.members.length > 0 && !pack.committee.members.includes(name)) return refuse(`${name} is not a committee member`);
    if (name === 'mapek') return refuse(`${name} asked for this action and cannot approve it`);
    const candidates = run.actions.filter((a) => a.step === ap.step && (ap.incident === undefined || a.incident === ap.incident));
    const action = candidates.find((a) => a.status === 'awaiting_approval') ?? candidates[candidates.length - 1];
    if (!action) return refuse(`no action ${ap.step}`);
    if (action.status !== 'awaiting_approval') return refuse(`action ${action.id} is ${action.status}, not awaiting approval`);
    if (action.approvals.some((x) => x.by === name)) return refuse(`${name} has already decided on action ${action.id}`);
    action.approvals.push({ by: name, at: now, decision: ap.decision, ...(ap.comment ? { comment: ap.comment } : {}) });
    const approvers = action.approvals.filter((x) => x.decision === 'approve').map((x) => x.by);
    const inc = run.incidents[action.incident - 1]!;
    if (ap.decision === 'reject') {
      action.status = 'skipped';
      action.outcome = { rejected: { by: name, comment: ap.comment } };
      action.finishedAt = now;
      log(`${action.id} rejected by ${name}`);
      deliver(inc, { type: 'approval.rejected', step: action.step, actionId: action.id, by: name, ...(ap.comment ? { comment: ap.comment } : {}) });
      return;
    }
    if (approvers.length < (action.quorum ?? 1)) {
      log(`${action.id} approved by ${name} (${approvers.length} of ${action.quorum ?? 1})`);
      return;
    }
    action.status = 'planned';
    log(`${action.id} approved by ${approvers.join(', ')}: quorum reached`);
    deliver(inc, { type: 'approval.granted', step: action.step, actionId: action.id, by: approvers });
    schedule(now, () => execute(action));
  }

  function acknowledge(ack: z.infer<typeof AckSchema>): void {
    const inc = ack.incident !== undefined ? run.incidents[ack.incident - 1] : [...run.incidents].reverse().find((i) => i.active) ?? run.incidents[run.incidents.length - 1];
    if (!inc) {
      log(`ack by ${ack.by}: no incident`);
      return;
    }
    if (inc.acks.has(ack.by)) return;
    inc.acks.add(ack.by);
    deliver(inc, { type: 'incident.acknowledged', by: ack.by, ...(ack.comment ? { comment: ack.comment } : {}) });
  }

  for (const a of given.alerts) schedule(at(a.at), () => receiveAlert(a));
  for (const s of given.samples) schedule(at(s.at), () => receiveSample(s));
  for (const ap of given.approvals) schedule(at(ap.at), () => decide(ap));
  for (const ack of given.acks) schedule(at(ack.at), () => acknowledge(ack));

  let processed = 0;
  while (queue.length > 0) {
    let best = 0;
    for (let i = 1; i < queue.length; i++) {
      const q = queue[i]!;
      const b = queue[best]!;
      if (q.at < b.at || (q.at === b.at && q.seq < b.seq)) best = i;
    }
    const item = queue[best]!;
    if (item.at > until) {
      if (test.until === undefined) run.stopped = `stopped ${offset(MAX_SPAN_MS)} in with ${queue.length} thing(s) still due`;
      break;
    }
    if (++processed > MAX_ITEMS) {
      run.stopped = `stopped after ${MAX_ITEMS} steps (a plan that never settles?)`;
      break;
    }
    queue.splice(best, 1);
    now = Math.max(now, item.at);
    item.run();
  }
  run.end = test.until === undefined ? now : Math.max(now, until);
  return run;
}

// ---------------------------------------------------------------------------------------------
// Expectations

/** True when `actual` holds everything `expected` says: objects key by key (recursively), anything else equal. */
export function matchesSubset(actual: unknown, expected: unknown): boolean {
  if (expected !== null && typeof expected === 'object' && !Array.isArray(expected)) {
    if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) return false;
    return Object.entries(expected).every(([k, v]) => matchesSubset((actual as Record<string, unknown>)[k], v));
  }
  if (Array.isArray(expected)) {
    return Array.isArray(actual) && actual.length === expected.length && expected.every((v, i) => matchesSubset(actual[i], v));
  }
  return Object.is(actual, expected);
}

function showAction(a: RunAction): string {
  return `${a.step} (${a.type}, ${a.status}, asked at ${offset(a.requestedAt)}${a.incident > 1 ? `, incident ${a.incident}` : ''})`;
}

function showExpected(e: ExpectedAction): string {
  const { repeat: _repeat, ...rest } = e;
  return JSON.stringify(rest);
}

function actionProblems(e: ExpectedAction, a: RunAction, timeOf: (v: string | number) => number): string[] {
  const p: string[] = [];
  if (e.step !== undefined && !globMatch(e.step, a.step)) p.push(`step ${a.step}, expected ${e.step}`);
  if (e.type !== undefined && e.type !== a.type) p.push(`type ${a.type}, expected ${e.type}`);
  if (e.status !== undefined && e.status !== a.status) p.push(`status ${a.status}, expected ${e.status}`);
  if (e.at !== undefined && timeOf(e.at) !== a.requestedAt) p.push(`asked at ${offset(a.requestedAt)}, expected ${offset(timeOf(e.at))}`);
  if (e.incident !== undefined && e.incident !== a.incident) p.push(`incident ${a.incident}, expected ${e.incident}`);
  if (e.approvalQuorum !== undefined && e.approvalQuorum !== a.approvalQuorum) p.push(`approval quorum ${a.approvalQuorum ?? 'none'}, expected ${e.approvalQuorum}`);
  if (e.approvedBy !== undefined) {
    const by = a.approvals.filter((x) => x.decision === 'approve').map((x) => x.by);
    if (JSON.stringify(by) !== JSON.stringify(e.approvedBy)) p.push(`approved by ${JSON.stringify(by)}, expected ${JSON.stringify(e.approvedBy)}`);
  }
  if (e.params !== undefined && !matchesSubset(a.params, e.params)) p.push(`params ${JSON.stringify(a.params)} do not include ${JSON.stringify(e.params)}`);
  return p;
}

function actionListProblems(label: string, expected: ExpectedAction[], actual: RunAction[], timeOf: (v: string | number) => number): string[] {
  const p: string[] = [];
  const wanted = expected.flatMap((a) => Array.from({ length: a.repeat ?? 1 }, () => a));
  for (let i = 0; i < Math.max(wanted.length, actual.length); i++) {
    const want = wanted[i];
    const got = actual[i];
    if (want && got) {
      const diff = actionProblems(want, got, timeOf);
      if (diff.length) p.push(`${label}[${i + 1}]: ${diff.join('; ')}`);
    } else if (want) {
      p.push(`${label}[${i + 1}]: expected ${showExpected(want)}, got nothing`);
    } else if (got) {
      p.push(`${label}[${i + 1}]: not expected: ${showAction(got)}`);
    }
  }
  if (p.length > 0) p.push(`${label} were: ${actual.length ? actual.map((a) => `${a.step}[${a.status}]`).join(', ') : '(none)'}`);
  return p;
}

function parseTransition(t: TransitionText): { from: string; to: string; event?: string } {
  if (typeof t !== 'string') return t;
  const m = /^\s*(\S+)\s*->\s*(\S+)(?:\s+on\s+(\S+))?\s*$/.exec(t)!;
  return { from: m[1]!, to: m[2]!, ...(m[3] ? { event: m[3] } : {}) };
}

function showStep(s: RunStep): string {
  return `${s.from} -> ${s.to} on ${s.event.type}`;
}

function transitionProblems(label: string, expected: TransitionText[], steps: RunStep[]): string[] {
  const want = expected.map(parseTransition);
  const p: string[] = [];
  for (let i = 0; i < Math.max(want.length, steps.length); i++) {
    const w = want[i];
    const s = steps[i];
    const ok = w && s && w.from === s.from && w.to === s.to && (w.event === undefined || w.event === s.event.type);
    if (ok) continue;
    p.push(`${label}[${i + 1}]: expected ${w ? `${w.from} -> ${w.to}${w.event ? ` on ${w.event}` : ''}` : '(nothing)'}, got ${s ? showStep(s) : '(nothing)'}`);
  }
  if (p.length > 0) p.push(`${label} were: ${steps.map((s) => `${s.from} -> ${s.to}`).join(', ')}`);
  return p;
}

function incidentProblems(label: string, inc: RunIncident, e: z.infer<typeof IncidentExpectSchema>, run: Run, timeOf: (v: string | number) => number): string[] {
  const p: string[] = [];
  if (e.actions !== undefined) p.push(...actionListProblems(`${label} actions`, e.actions, run.actions.filter((a) => a.incident === inc.index), timeOf));
  if (e.playbook !== undefined && e.playbook !== inc.playbook) p.push(`${label} playbook ${inc.playbook}, expected ${e.playbook}`);
  if (e.state !== undefined && e.state !== inc.state) p.push(`${label} state ${inc.state}, expected ${e.state}${inc.steps.length ? ` (last step ${showStep(inc.steps[inc.steps.length - 1]!)})` : ''}`);
  if (e.labels !== undefined && !matchesSubset(inc.labels, e.labels)) p.push(`${label} labels ${JSON.stringify(inc.labels)} do not include ${JSON.stringify(e.labels)}`);
  if (e.transitions !== undefined) p.push(...transitionProblems(`${label} transitions`, e.transitions, inc.steps));
  if (e.evidence !== undefined) {
    const ev = inc.steps[inc.steps.length - 1]?.evidence ?? {};
    if (!matchesSubset(ev, e.evidence)) p.push(`${label} evidence ${JSON.stringify(ev)} does not include ${JSON.stringify(e.evidence)}`);
  }
  return p;
}

/** The differences between what a test expects and what the run did (empty when it passes). */
export function checkExpectations(test: PolicyTest, run: Run): string[] {
  const e = test.expect;
  const timeOf = (v: string | number): number => (typeof v === 'number' ? v : isDuration(v) ? parseOffset(v) : Date.parse(v) - run.start);
  const p: string[] = [];
  if (e.actions !== undefined) p.push(...actionListProblems('actions', e.actions, run.actions, timeOf));
  const last = run.incidents[run.incidents.length - 1];
  if (e.state !== undefined || e.transitions !== undefined || e.evidence !== undefined) {
    if (!last) p.push('no incident opened');
    else p.push(...incidentProblems('incident', last, { state: e.state, transitions: e.transitions, evidence: e.evidence }, run, timeOf));
  }
  if (typeof e.incidents === 'number' && e.incidents !== run.incidents.length) {
    p.push(`incidents: ${run.incidents.length} opened, expected ${e.incidents}`);
  } else if (Array.isArray(e.incidents)) {
    if (e.incidents.length !== run.incidents.length) p.push(`incidents: ${run.incidents.length} opened, expected ${e.incidents.length}`);
    e.incidents.forEach((want, i) => {
      const inc = run.incidents[i];
      if (inc) p.push(...incidentProblems(`incidents[${i + 1}]`, inc, want, run, timeOf));
    });
  }
  if (e.brake !== undefined && (e.brake === 'engaged') !== run.brake) p.push(`brake ${run.brake ? 'engaged' : 'released'}, expected ${e.brake}`);
  if (p.length > 0 && run.stopped) p.push(run.stopped);
  return p;
}

/** The outcome of one policy test. */
export interface PolicyTestResult {
  name: string;
  ok: boolean;
  /** One line per difference, or the error that stopped the run. */
  failures: string[];
  run?: Run;
}

/**
 * Runs one test: `packFor(overrides)` gives the pack under test with the test's own `pack:`
 * settings merged over it (validated like any pack). Never throws: errors are failures.
 */
export function evaluatePolicyTest(test: PolicyTest, packFor: (overrides?: Record<string, unknown>) => Pack, options: RunnerOptions): PolicyTestResult {
  let run: Run;
  try {
    run = runScenario(test, packFor(test.pack), options);
  } catch (err) {
    return { name: test.name, ok: false, failures: [`error: ${(err as Error).message}`] };
  }
  const failures = checkExpectations(test, run);
  return { name: test.name, ok: failures.length === 0, failures, run };
}

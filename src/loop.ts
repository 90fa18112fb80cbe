/** The stage processors: each re-reads knowledge, does its one step, commits, then wakes the next stage. */
import type { Logger } from 'pino';
import { findingFromAlert, resolvedFindingId, type AlertSignal, type PlaybookRoute } from './analyze/findings.ts';
import { parseDuration, type Clock } from './clock.ts';
import type { Pack, SensorConfig } from './config.ts';
import { PermanentActionError } from './errors.ts';
import { actuators, READ_ONLY } from './execute/actuators/index.ts';
import type { ActuatorContext } from './execute/actuators/types.ts';
import { redact } from './execute/outbound.ts';
import type { LoopQueues } from './execute/queues.ts';
import type { KnowledgeStore } from './knowledge/store.ts';
import type { LoopMetrics } from './metrics.ts';
import type { QueryFn } from './monitor/promql.ts';
import { failureReason, readSensor, tickTime } from './monitor/sensors.ts';
import { judgeSample } from './analyze/sensor-findings.ts';
import { playbooks } from './plan/playbooks/index.ts';
import { budgetName, budgetsFor } from './plan/budgets.ts';
import { startPlan, stepPlan } from './plan/step.ts';
import type { ActionType, PlanEvent, StepResult } from './plan/types.ts';

/** What the processors share. */
export interface LoopDeps {
  store: KnowledgeStore;
  queues: LoopQueues;
  metrics: LoopMetrics;
  pack: Pack;
  clock: Clock;
  log: Logger;
  actuator: ActuatorContext;
  /** PromQL for the sensors, with a sensor's own timeout. */
  query: (timeoutMs: number) => QueryFn;
  /** The last outcome of each sensor in this process, for /readyz. */
  sensorHealth: Map<string, { ok: boolean; at: string; reason?: string; error?: string }>;
}

/** The pack's alert → playbook routes. */
export function routesOf(pack: Pack): PlaybookRoute[] {
  return Object.values(playbooks).flatMap((p) => {
    const r = p.route(pack);
    return r ? [{ playbook: p.name, ...r }] : [];
  });
}

/** Enqueues, logging instead of failing: knowledge holds the work and the reconciler re-enqueues it. */
async function wake(deps: LoopDeps, what: string, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    deps.log.warn({ err: (err as Error).message, what }, 'enqueue failed; the reconciler will pick it up');
  }
}

/** A failure that retrying cannot fix (a bad query): the job is not retried. */
export class ConfigurationFailure extends Error {
  override readonly name = 'ConfigurationFailure';
}

/**
 * Monitor: one sensor tick, evaluated at its scheduled time. Transient failures are retried;
 * a bad query (400, or 422 twice) is a configuration error, reported with the query and
 * Prometheus' message. No data yields no observation.
 */
export async function sensorTick(deps: LoopDeps, sensorName: string, job: { id?: string; timestamp: number; attemptsMade: number }): Promise<number> {
  const sensor = deps.pack.sensors.find((s) => s.name === sensorName);
  if (!sensor) return 0; // a scheduler left over from an older pack
  const at = tickTime(job.id, job.timestamp, parseDuration(sensor.interval));
  const started = performance.now();
  const health = (h: { ok: boolean; reason?: string; error?: string }) => deps.sensorHealth.set(sensor.name, { ...h, at: new Date(deps.clock.now()).toISOString() });
  let tick;
  try {
    tick = await readSensor(deps.query(parseDuration(sensor.timeout)), sensor, at);
  } catch (err) {
    const reason = failureReason(err);
    deps.metrics.sensorErrors.inc({ sensor: sensor.name, reason });
    health({ ok: false, reason, error: (err as Error).message });
    if (reason === 'bad_query' || (reason === 'execution' && job.attemptsMade >= 1)) {
      deps.log.error({ sensor: sensor.name, query: sensor.query, err: (err as Error).message }, 'sensor query is wrong: fix the pack');
      throw new ConfigurationFailure(`sensor ${sensor.name}: ${(err as Error).message} (query: ${sensor.query})`);
    }
    throw err;
  } finally {
    deps.metrics.sensorQueryDuration.observe({ sensor: sensor.name }, (performance.now() - started) / 1000);
  }
  if (tick.observations.length === 0) {
    deps.metrics.sensorErrors.inc({ sensor: sensor.name, reason: 'no_data' });
    health({ ok: false, reason: 'no_data' });
    return 0;
  }
  for (const s of tick.skipped) deps.metrics.sensorErrors.inc({ sensor: sensor.name, reason: s.reason });
  health({ ok: true });
  const { inserted, duplicates } = await deps.store.recordObservations(tick.observations);
  deps.metrics.observations.inc({ source: 'sensor' }, inserted.length);
  deps.metrics.observationsDeduplicated.inc({ source: 'sensor' }, duplicates);
  await wake(deps, 'analyze', () => deps.queues.analyzeMany(inserted, 'sensor'));
  return inserted.length;
}

/** Engages the safety brake (once): from now on every Charter call waits for one approval. */
async function engageBrake(deps: LoopDeps, reason: string): Promise<void> {
  const state = await deps.store.setBrake({ engaged: true, by: 'mapek', reason });
  deps.metrics.brakeEngaged.set(1);
  deps.log.warn({ reason, since: state.since }, 'safety brake engaged: Charter calls wait for approval until a person releases it');
}

/** Items of one batch job handled side by side (their commits share transactions). */
const BATCH_LANES = 4;

/**
 * An analyze job: one observation, or the observations committed together by one webhook batch.
 * Each is analyzed once (a processed observation is skipped), so a retried batch redoes only
 * what failed; the job fails, and is retried, when any of its observations failed.
 */
export async function analyzeJob(deps: LoopDeps, data: { observationId?: string; observationIds?: string[]; source?: string }): Promise<string> {
  const ids = data.observationIds ?? (data.observationId ? [data.observationId] : []);
  if (ids.length === 1) return analyzeObservation(deps, ids[0]!, data.source);
  await inLanes(ids, BATCH_LANES, (id) => analyzeObservation(deps, id, data.source));
  return `${ids.length} observations`;
}

/** A plan job: one incident, or the incidents woken together in one turn (each stepped once). */
export async function planJob(deps: LoopDeps, data: { incidentId?: string; incidentIds?: string[] }): Promise<number> {
  const ids = data.incidentIds ?? (data.incidentId ? [data.incidentId] : []);
  let applied = 0;
  await inLanes(ids, BATCH_LANES, async (id) => {
    applied += await stepIncident(deps, id);
  });
  return applied;
}

/**
 * Runs `fn` over `items`, `lanes` at a time (their commits share transactions); every item is
 * tried, and the first failure is rethrown at the end so the job is retried (what succeeded is
 * then skipped: each step is idempotent).
 */
async function inLanes<T>(items: T[], lanes: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  let failed = false;
  let failure: unknown;
  const lane = async () => {
    while (next < items.length) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (err) {
        if (!failed) failure = err;
        failed = true;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(lanes, items.length) }, lane));
  if (failed) throw failure;
}

/** Analyze: one observation → a finding → an incident joined or opened. */
export async function analyzeObservation(deps: LoopDeps, observationId: string, knownSource?: string): Promise<string> {
  const routes = routesOf(deps.pack);
  let kind = '';
  let severity = '';
  // The job usually says where the observation came from; only the reconciler's re-enqueues do not.
  const source = knownSource ?? (await deps.store.observationSource(observationId))?.source;
  if (source === 'sensor') {
    let sensor: SensorConfig | undefined;
    const res = await deps.store.processSensorObservation(observationId, (o, previous: ReturnType<typeof judgeSample>['state'] | null) => {
      sensor = deps.pack.sensors.find((s) => s.name === o.name);
      if (!sensor) return { state: previous ?? { phase: 'inactive' as const } };
      const payload = o.payload as { at: number; value: number; evidence?: Record<string, unknown> };
      const verdict = judgeSample(sensor, previous, { at: payload.at, value: payload.value, subject: o.labels, evidence: payload.evidence });
      if (verdict.draft) {
        kind = verdict.draft.kind;
        severity = verdict.draft.severity;
      }
      return verdict;
    });
    if (kind && res.outcome !== 'duplicate finding') deps.metrics.findings.inc({ kind, severity });
    if (kind && sensor && deps.pack.brake.sensors.includes(sensor.name)) await engageBrake(deps, `sensor ${sensor.name} fired`);
    if (res.opened) deps.metrics.incidentsOpened.inc({ playbook: sensor?.playbook ?? 'none' });
    if (res.incidentId) await wake(deps, 'plan', () => deps.queues.planSoon(res.incidentId!, `${res.outcome.startsWith('resolved') ? 'fr' : 'f'}_${res.findingId}`));
    return res.outcome;
  }
  let alertname = '';
  let playbookOf: string | undefined;
  const res = await deps.store.processObservation(observationId, (o) => {
    if (o.source !== 'alertmanager') return null;
    const draft = findingFromAlert((o.payload as { alert: AlertSignal }).alert, routes);
    if (draft) {
      kind = draft.kind;
      severity = draft.severity;
      alertname = draft.name;
      playbookOf = draft.route?.playbook;
    }
    return draft;
  }, (o) => (o.source === 'alertmanager' ? resolvedFindingId((o.payload as { alert: AlertSignal }).alert) : null));
  if (res.findingId && kind && res.outcome !== 'duplicate finding') deps.metrics.findings.inc({ kind, severity });
  if (alertname && res.outcome !== 'duplicate finding' && deps.pack.brake.alertnames.includes(alertname)) await engageBrake(deps, `alert ${alertname} fired`);
  if (res.opened) deps.metrics.incidentsOpened.inc({ playbook: playbookOf ?? 'unknown' });
  if (res.incidentId) await wake(deps, 'plan', () => deps.queues.planSoon(res.incidentId!, `${res.outcome.startsWith('resolved') ? 'fr' : 'f'}_${res.findingId}`));
  return res.outcome;
}

/** Plan: applies an incident's pending events one by one, each step committed with its commands. */
export async function stepIncident(deps: LoopDeps, incidentId: string): Promise<number> {
  let applied = 0;
  for (;;) {
    const work = await deps.store.planWork(incidentId);
    if (!work || work.events.length === 0) return applied;
    const playbook = playbooks[work.incident.playbook];
    if (!playbook) throw new PermanentActionError(`incident ${incidentId}: unknown playbook ${work.incident.playbook}`);
    const next = work.events[0]!;
    let result: StepResult;
    if (!work.plan) {
      const event = next.event as Extract<PlanEvent, { type: 'incident.opened' }>;
      const subject = { ...work.incident.labels };
      delete subject.alertname;
      const key = (await deps.store.incidentSubjectKey(incidentId)) ?? '';
      const window = parseDuration(deps.pack.flapGuard.window);
      const recent = await deps.store.incidentsSince(work.incident.playbook, key, new Date(deps.clock.now() - window).toISOString(), incidentId);
      result = startPlan(playbook, playbook.input(deps.pack, { labels: event.labels ?? work.incident.labels, subject, recentIncidents: recent }));
    } else {
      result = stepPlan(playbook, work.plan.snapshot, next.event);
    }
    const committed = await deps.store.commitPlanStep({
      incidentId,
      eventId: next.id,
      event: next.event,
      expectedVersion: work.plan?.version ?? 0,
      machine: playbook.machine.id,
      result,
      policy: { name: deps.pack.name, version: deps.pack.version },
      labels: work.incident.labels,
    });
    applied += 1;
    const closedNow = (result.incidentState === 'resolved' || result.incidentState === 'escalated') && work.incident.state !== 'resolved' && work.incident.state !== 'escalated';
    if (closedNow) {
      deps.metrics.incidentTimeToClose.observe({ playbook: work.incident.playbook, outcome: result.incidentState }, (deps.clock.now() - Date.parse(work.incident.createdAt)) / 1000);
    }
    deps.metrics.planSteps.inc({ machine: playbook.machine.id, state: result.to });
    deps.log.info({ incident: incidentId, from: result.from, to: result.to, event: next.event.type, actions: result.actions.map((a) => a.step) }, 'plan step');
    for (const a of committed.actions) if (a.status === 'planned') await wake(deps, 'action', () => deps.queues.action(a.id, a.type));
    for (const t of committed.timers) await wake(deps, 'timer', () => deps.queues.timer(t.id, t.dueAt, deps.clock.now()));
  }
}

/** Timers: a due deadline becomes a plan event, once. */
export async function fireTimer(deps: LoopDeps, timerId: string): Promise<void> {
  const fired = await deps.store.fireTimer(timerId);
  if (fired) await wake(deps, 'plan', () => deps.queues.planSoon(fired.incidentId, `t_${timerId}`));
}

/**
 * Execute: runs one action through its actuator with its Idempotency-Key. A retryable failure is
 * rethrown for BullMQ's backoff; the last attempt, or a permanent failure, makes the action dead.
 */
export async function runAction(
  deps: LoopDeps,
  actionId: string,
  attempt: { made: number; max: number; postpone?: (ms: number) => Promise<never> },
): Promise<string> {
  // Paused (only when the job can wait): the action waits — not an attempt — and runs once the
  // pause ends or expires. Reads go on. A budget is checked as the attempt starts, in the same
  // write, so concurrent workers cannot together spend more than it allows.
  const begun = await deps.store.beginAttempt(
    actionId,
    (type) => attempt.postpone !== undefined && !READ_ONLY.has(type),
    (type) =>
      // Dry run and shadow: nothing happens, nothing is spent.
      (deps.pack.dryRun || deps.pack.autonomy === 'shadow' ? [] : budgetsFor(deps.pack.budgets, type, READ_ONLY.has(type))).map((b) => ({
        name: budgetName(b),
        actionType: b.actionType ?? null,
        perSubject: b.perSubject ?? false,
        max: b.max,
        per: b.per,
        since: new Date(deps.clock.now() - parseDuration(b.per)).toISOString(),
      })),
  );
  if (!begun) return 'already finished';
  if ('paused' in begun) {
    deps.metrics.paused.set(1);
    return attempt.postpone!(5000);
  }
  if (attempt.postpone) deps.metrics.paused.set(0);
  const type = ('started' in begun ? begun.started.type : begun.type) as ActionType;
  const finish = async (status: 'succeeded' | 'dead' | 'skipped', outcome: Record<string, unknown>, error?: string) => {
    const done = await deps.store.finishAction(actionId, status, outcome, error);
    deps.metrics.actions.inc({ type, outcome: status });
    if (done?.firstEffectMs != null) deps.metrics.observationToAction.observe(done.firstEffectMs / 1000);
    if (done) await wake(deps, 'plan', () => deps.queues.planSoon(done.incidentId, `o_${actionId}`));
  };
  const spends = 'started' in begun ? begun.budgets : [begun.budgetSpent];
  for (const b of spends) if (!b.perSubject) deps.metrics.budgetRemaining.set({ action_type: b.name }, Math.max(0, b.max - b.spent - ('started' in begun ? 1 : 0)));
  if ('budgetSpent' in begun) {
    // Spent: the plan escalates instead of acting.
    const b = begun.budgetSpent;
    await finish('dead', { budgetSpent: { budget: b.name, actionType: type, max: b.max, per: b.per, spent: b.spent } }, `budget ${b.name} spent (${b.spent} of ${b.max} per ${b.per})`);
    return 'budget spent';
  }
  const action = begun.started;
  if ((deps.pack.dryRun || deps.pack.autonomy === 'shadow') && !READ_ONLY.has(type)) {
    const mode = deps.pack.dryRun ? { dryRun: true } : { shadow: true };
    await finish('skipped', { ...mode, wouldCall: type, params: redact(action.params) as Record<string, unknown> });
    return 'dry-run';
  }
  // Never approved yet, and the autonomy ladder or the safety brake asks for a person first.
  if (!READ_ONLY.has(type) && action.approvals.length === 0 && action.quorum === null) {
    const hold = deps.pack.autonomy === 'propose' ? 'autonomy is propose' : type.startsWith('charter.') && begun.brake.engaged ? 'safety brake engaged' : null;
    if (hold && (await deps.store.holdForApproval(actionId, hold))) {
      deps.log.info({ action: actionId, type, hold }, 'action held for approval');
      return 'held';
    }
  }
  const actuator = actuators[type];
  if (!actuator) {
    await finish('dead', {}, `no actuator for ${type}`);
    return 'dead';
  }
  const started = performance.now();
  try {
    const outcome = await actuator(action, deps.actuator);
    deps.metrics.actionDuration.observe({ type }, (performance.now() - started) / 1000);
    deps.metrics.actionAttempts.inc({ type, result: 'ok' });
    await finish('succeeded', outcome);
    return 'succeeded';
  } catch (err) {
    deps.metrics.actionDuration.observe({ type }, (performance.now() - started) / 1000);
    const message = (err as Error).message ?? String(err);
    const permanent = err instanceof PermanentActionError;
    deps.metrics.actionAttempts.inc({ type, result: permanent ? 'permanent_error' : 'retryable_error' });
    if (permanent || attempt.made + 1 >= attempt.max) {
      await finish('dead', { error: message, attempts: action.attempts }, message);
      deps.log.error({ action: actionId, type, err: message }, 'action dead');
      return 'dead';
    }
    await deps.store.recordAttemptError(actionId, message);
    deps.log.warn({ action: actionId, type, attempt: attempt.made + 1, err: message }, 'action attempt failed; retrying');
    throw err;
  }
}

/** Hands everything unfinished in knowledge back to the queues (on start and on Redis reconnect). */
export async function reconcile(deps: LoopDeps): Promise<{ observations: number; incidents: number; actions: number; timers: number }> {
  const work = await deps.store.unfinishedWork();
  const stamp = deps.clock.now().toString(36);
  for (const id of work.observations) await deps.queues.analyze(id);
  for (const id of work.incidents) await deps.queues.plan(id, `r_${stamp}`);
  for (const a of work.actions) await deps.queues.action(a.id, a.type);
  for (const t of work.timers) await deps.queues.timer(t.id, t.dueAt, deps.clock.now());
  return { observations: work.observations.length, incidents: work.incidents.length, actions: work.actions.length, timers: work.timers.length };
}

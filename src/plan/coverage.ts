/**
 * Transition coverage: tests assert one declared transition at a time (sent from a snapshot in its
 * source state, target and commands checked) and record it; a CI script compares what was recorded
 * with what every machine declares. Pure except for the sink, a narrow port the caller provides.
 */
import { createHash } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { createActor, type AnyStateMachine } from 'xstate';
import { getShortestPaths } from 'xstate/graph';
import type { Playbook } from './playbooks/index.ts';
import { startPlan, stepPlan } from './step.ts';
import type { ActionRequest, ExpireRequest, PlanEvent, StepResult, TimerRequest } from './types.ts';

/** One declared transition: from a state ('*' for the machine's own handlers), on an event ('(always)' for eventless ones). */
export interface DeclaredTransition {
  machine: string;
  from: string;
  event: string;
  /** Position among the candidates of the same (from, event), the order XState tries them in. */
  index: number;
  guard?: string;
  /** The target; equals `from` for a transition that stays (a self or targetless one). */
  to: string;
}

/** What a test records once it asserted a transition. */
export interface CoverageRecord extends DeclaredTransition {
  /** Digest of the machine's declared transitions: a record made against another version of the machine does not count. */
  declared: string;
  /** The state the plan was in when a '*' handler fired (the same as `from` otherwise). */
  in: string;
  /** Who asserted it (a test name). */
  by?: string;
}

/** Where coverage records go (a file per test worker, in practice). */
export interface CoverageSink {
  record(r: CoverageRecord): void;
}

/** The part of node:fs the JSON-lines sink needs (handed in: the plan stage imports no I/O). */
export interface AppendFs {
  mkdirSync(path: string, opts: { recursive: true }): unknown;
  appendFileSync(path: string, data: string): void;
}

/**
 * A sink appending one JSON line per record to `file` (its directory is created). Each worker
 * should use its own file name; appends of one short line are atomic anyway.
 */
export function jsonLinesSink(fs: AppendFs, file: string): CoverageSink {
  const dir = file.replace(/[\\/][^\\/]*$/, '');
  if (dir && dir !== file) fs.mkdirSync(dir, { recursive: true });
  return { record: (r) => fs.appendFileSync(file, `${JSON.stringify(r)}\n`) };
}

interface TransitionDef {
  eventType: string;
  source: { key: string };
  target?: Array<{ key: string }>;
  guard?: unknown;
}

interface NodeLike {
  key: string;
  states: Record<string, NodeLike>;
  transitions: Map<string, TransitionDef[]>;
  always?: TransitionDef[];
}

/**
 * A readable name for a guard: a named guard's name, `and(a, b)` / `or(...)` / `not(a)` for the
 * composites XState builds as functions carrying their `guards`, an inline function's name.
 */
export function guardLabel(g: unknown): string | undefined {
  if (g === undefined || g === null) return undefined;
  if (typeof g === 'string') return g;
  const inner = (g as { guards?: unknown[] }).guards;
  if (typeof g === 'function' && Array.isArray(inner)) return `${g.name || 'guard'}(${inner.map((x) => guardLabel(x) ?? '?').join(', ')})`;
  if (typeof g === 'function') return g.name || 'guard';
  return (g as { type?: string }).type ?? 'guard';
}

/** Guard names compare without spaces; 'guard' (what a chart prints for an unnamed guard) matches any composite. */
export function sameGuard(chartGuard: string | undefined, recorded: string | undefined): boolean {
  const norm = (s: string | undefined) => (s ?? '').replace(/\s+/g, '');
  if (norm(chartGuard) === norm(recorded)) return true;
  return chartGuard === 'guard' && recorded !== undefined;
}

const definitions = new WeakMap<AnyStateMachine, Map<unknown, DeclaredTransition>>();

/** Every declared transition definition of a machine (top-level states and the root), with its identity. */
function definitionsOf(machine: AnyStateMachine): Map<unknown, DeclaredTransition> {
  const known = definitions.get(machine);
  if (known) return known;
  const map = new Map<unknown, DeclaredTransition>();
  const root = machine.root as unknown as NodeLike;
  const add = (from: string, event: string, list: TransitionDef[]) =>
    list.forEach((t, index) => map.set(t, { machine: machine.id, from, event, index, guard: guardLabel(t.guard), to: t.target?.[0]?.key ?? from }));
  for (const s of Object.values(root.states)) {
    for (const [event, list] of s.transitions) add(s.key, event, list);
    if (s.always?.length) add(s.key, '(always)', s.always);
  }
  for (const [event, list] of root.transitions) add('*', event, list);
  definitions.set(machine, map);
  return map;
}

/** The declared transitions of a machine, in chart order (as `machineChart` lists them). */
export function declaredTransitions(machine: AnyStateMachine): DeclaredTransition[] {
  return [...definitionsOf(machine).values()];
}

/** The key that identifies a declared transition across a chart and the records. */
export function transitionKey(t: Pick<DeclaredTransition, 'machine' | 'from' | 'event' | 'index' | 'to'>): string {
  return `${t.machine} | ${t.from} --${t.event}#${t.index}--> ${t.to}`;
}

/** A readable one-line description. */
export function describeTransition(t: Pick<DeclaredTransition, 'from' | 'event' | 'guard' | 'to'>): string {
  return `${t.from} --${t.event}${t.guard ? ` [${t.guard}]` : ''}--> ${t.to}`;
}

/** A digest of a machine's declared transitions (changes whenever one is added, removed, reordered or retargeted). */
export function declaredDigest(machine: AnyStateMachine): string {
  const text = JSON.stringify(declaredTransitions(machine).map((t) => [t.from, t.event, t.index, t.guard ?? '', t.to]));
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

function stateName(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/**
 * The declared transitions a machine takes on one event from a persisted snapshot (or, with
 * `input`, while it starts), in order: the event's own transition, then eventless ones.
 */
export function takenTransitions(playbook: Playbook, source: { snapshot: unknown } | { input: unknown }, event?: PlanEvent): DeclaredTransition[] {
  const machine = playbook.machine;
  const defs = definitionsOf(machine);
  const taken: DeclaredTransition[] = [];
  const inspect = (e: unknown) => {
    const ev = e as { type: string; _transitions?: unknown[] };
    if (ev.type !== '@xstate.microstep') return;
    for (const t of ev._transitions ?? []) {
      const d = defs.get(t);
      if (d) taken.push(d);
    }
  };
  const actor =
    'input' in source
      ? createActor(machine, { input: source.input as never, inspect })
      : createActor(machine, { snapshot: machine.resolveState(source.snapshot as never) as never, inspect });
  actor.start();
  if (event && !('input' in source)) actor.send(event as never);
  actor.stop();
  return taken;
}

/** A transition a test claims to exercise; `index` only when two declared ones share from, event, guard and target. */
export interface TransitionClaim {
  from: string;
  event: string;
  guard?: string;
  to: string;
  index?: number;
}

/** What one assertion expects: the resting state after the step and every command emitted (absent lists mean none). */
export interface TransitionExpectation {
  state: string;
  incidentState?: string;
  actions?: ActionRequest[];
  timers?: TimerRequest[];
  expire?: ExpireRequest[];
}

/** Where the step starts: a persisted snapshot (with the event to send), or a plan that starts from this input. */
export type TransitionSource = { snapshot: unknown; event: PlanEvent } | { input: unknown };

/** A transition assertion that did not hold. */
export class TransitionAssertionError extends Error {
  override readonly name = 'TransitionAssertionError';
}

/** Finds the one declared transition a claim names; throws naming the candidates when there is none or more than one. */
export function resolveClaim(machine: AnyStateMachine, claim: TransitionClaim): DeclaredTransition {
  const all = declaredTransitions(machine);
  const hits = all.filter(
    (t) =>
      t.from === claim.from &&
      t.event === claim.event &&
      t.to === claim.to &&
      (claim.guard === undefined ? t.guard === undefined : sameGuard(t.guard, claim.guard) || sameGuard(claim.guard, t.guard)) &&
      (claim.index === undefined || t.index === claim.index),
  );
  if (hits.length === 1) return hits[0]!;
  const list = all.map((t) => `  ${describeTransition(t)} (#${t.index})`).join('\n');
  throw new TransitionAssertionError(
    `${hits.length === 0 ? 'no' : 'more than one'} declared transition matches ${describeTransition(claim)} in ${machine.id}; declared:\n${list}`,
  );
}

function show(v: unknown): string {
  return JSON.stringify(v, null, 0);
}

/**
 * Asserts one transition: sends the event from the source (or starts the plan), checks the claimed
 * declared transition was taken, the state the plan rests in, and every command emitted (exactly).
 * On success the transition is recorded to the sink; on failure nothing is recorded and it throws.
 */
export function assertTransition(
  playbook: Playbook,
  source: TransitionSource,
  claim: TransitionClaim,
  expected: TransitionExpectation,
  sink?: CoverageSink,
  by?: string,
): StepResult {
  const declared = resolveClaim(playbook.machine, claim);
  const persisted = 'snapshot' in source ? JSON.parse(JSON.stringify(source.snapshot)) : undefined;
  const result = 'snapshot' in source ? stepPlan(playbook, persisted, source.event) : startPlan(playbook, source.input);
  const taken = 'snapshot' in source ? takenTransitions(playbook, { snapshot: persisted }, source.event) : takenTransitions(playbook, { input: source.input });
  const problems: string[] = [];
  const inState = 'snapshot' in source ? result.from : '(start)';
  if (declared.event !== '(always)' && declared.from !== '*' && inState !== declared.from) {
    problems.push(`the source snapshot is in ${inState}, not in ${declared.from}`);
  }
  if (!taken.includes(declared)) {
    problems.push(`took ${taken.length ? taken.map(describeTransition).join(', then ') : 'no declared transition'}, not ${describeTransition(declared)}`);
  }
  if (result.to !== expected.state) problems.push(`rests in ${result.to}, expected ${expected.state}`);
  if (expected.incidentState !== undefined && result.incidentState !== expected.incidentState) {
    problems.push(`incident state ${result.incidentState}, expected ${expected.incidentState}`);
  }
  const commands: Array<[string, unknown[], unknown[]]> = [
    ['actions', result.actions, expected.actions ?? []],
    ['timers', result.timers, expected.timers ?? []],
    ['expire', result.expire, expected.expire ?? []],
  ];
  for (const [name, actual, want] of commands) {
    if (!isDeepStrictEqual(actual, want)) problems.push(`${name}: expected ${show(want)}\n    got      ${show(actual)}`);
  }
  if (problems.length > 0) {
    throw new TransitionAssertionError(`${playbook.machine.id}: ${describeTransition(declared)}:\n  ${problems.join('\n  ')}`);
  }
  sink?.record({ ...declared, declared: declaredDigest(playbook.machine), in: inState, ...(by ? { by } : {}) });
  return result;
}

/** Options for finding a path to a source state with XState's graph utilities. */
export interface ReachOptions<C> {
  /** The events worth trying in a state (the answers and timers a plan there could hear). */
  events: (state: { value: unknown; context: C }) => PlanEvent[];
  /** What counts as a distinct state for the search (keep it finite: collapse counters). */
  key: (state: { value: unknown; context: C }) => string;
  /** The state wanted. */
  where: (state: { value: unknown; context: C }) => boolean;
}

/** A source snapshot, reached from the start by the shortest event path the graph search found, replayed through the pure step. */
export interface Reached {
  snapshot: unknown;
  state: string;
  path: PlanEvent[];
  last: StepResult;
}

/**
 * Finds the shortest event path from a plan's start to a state satisfying `where` (xstate/graph's
 * getShortestPaths), then replays it through startPlan/stepPlan with a JSON round trip between
 * steps, as knowledge keeps plans. Throws when no state qualifies.
 */
export function reach<C>(playbook: Playbook, input: unknown, opts: ReachOptions<C>): Reached {
  const machine = playbook.machine;
  type Snap = { value: unknown; context: C };
  const paths = getShortestPaths(machine, {
    input: input as never,
    events: ((s: Snap) => opts.events(s)) as never,
    serializeState: ((s: Snap) => opts.key(s)) as never,
    toState: ((s: Snap) => opts.where(s)) as never,
    limit: 100_000,
  });
  if (paths.length === 0) throw new TransitionAssertionError(`${machine.id}: no path from the start reaches the wanted state`);
  const shortest = paths.reduce((a, b) => (b.weight < a.weight ? b : a));
  const path = shortest.steps.map((s) => s.event as unknown as PlanEvent).filter((e) => !String(e.type).startsWith('xstate.'));
  let last = startPlan(playbook, input);
  let snapshot = JSON.parse(JSON.stringify(last.snapshot));
  for (const ev of path) {
    last = stepPlan(playbook, snapshot, ev);
    snapshot = JSON.parse(JSON.stringify(last.snapshot));
  }
  const state = stateName((shortest.state as { value: unknown }).value);
  if (last.to !== state) throw new TransitionAssertionError(`${machine.id}: the path replayed through the pure step ends in ${last.to}, the search said ${state}`);
  return { snapshot, state, path, last };
}

/** One machine's coverage. */
export interface MachineCoverage {
  machine: string;
  declared: number;
  covered: number;
  missing: DeclaredTransition[];
  /** Records whose transition is no longer declared, or were made against another version of the machine. */
  stale: number;
}

/** Compares what machines declare with what tests recorded. `chart` rows come from machineChart (index derived from their order). */
export function coverageOf(
  machine: string,
  chart: Array<{ from: string; event: string; to: string; guard?: string }>,
  records: readonly CoverageRecord[],
  digest?: string,
): MachineCoverage {
  const seen = new Map<string, number>();
  const declared: DeclaredTransition[] = chart.map((t) => {
    const group = `${t.from}|${t.event}`;
    const index = seen.get(group) ?? 0;
    seen.set(group, index + 1);
    return { machine, from: t.from, event: t.event, index, guard: t.guard, to: t.to };
  });
  const mine = records.filter((r) => r.machine === machine);
  const current = mine.filter((r) => digest === undefined || r.declared === digest);
  const byKey = new Map<string, CoverageRecord[]>();
  for (const r of current) byKey.set(transitionKey(r), [...(byKey.get(transitionKey(r)) ?? []), r]);
  const missing = declared.filter((d) => !(byKey.get(transitionKey(d)) ?? []).some((r) => sameGuard(d.guard, r.guard)));
  const declaredKeys = new Set(declared.map(transitionKey));
  const stale = mine.length - current.length + current.filter((r) => !declaredKeys.has(transitionKey(r))).length;
  return { machine, declared: declared.length, covered: declared.length - missing.length, missing, stale };
}

/** Parses JSON-lines coverage text (blank and broken lines skipped, counted). */
export function parseRecords(text: string): { records: CoverageRecord[]; broken: number } {
  const records: CoverageRecord[] = [];
  let broken = 0;
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const r = JSON.parse(line) as CoverageRecord;
      if (typeof r.machine === 'string' && typeof r.from === 'string' && typeof r.event === 'string' && typeof r.index === 'number') records.push(r);
      else broken += 1;
    } catch {
      broken += 1;
    }
  }
  return { records, broken };
}

// Shared by the transition tests of the playbook machines (test/unit/transitions-<machine>.test.ts):
// the coverage sink, the plan events, and the describe block that asserts every case, checks the
// cases name each declared transition once, and shows the ones no input of the playbook can reach
// (not recorded: scripts/transition-coverage.ts reports them missing, as it should).
import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadPack, mergeDeep, type Pack } from '../../src/config.ts';
import { machineChart } from '../../src/plan/chart.ts';
import {
  assertTransition,
  declaredTransitions,
  describeTransition,
  jsonLinesSink,
  reach,
  resolveClaim,
  transitionKey,
  type CoverageSink,
  type ReachOptions,
  type TransitionClaim,
  type TransitionExpectation,
  type TransitionSource,
} from '../../src/plan/coverage.ts';
import { playbooks, type Playbook } from '../../src/plan/playbooks/index.ts';
import type { FanoutVerifyContext, FanoutVerifyInput } from '../../src/plan/playbooks/charter-common/fanout-verify.ts';
import type { NotifyWatchContext } from '../../src/plan/playbooks/charter-common/notify-watch.ts';
import { stepsOf, type RemediateVerifyContext, type RemediateVerifyInput } from '../../src/plan/playbooks/charter-common/remediate-verify.ts';
import type { ActionRequest, PlanEvent } from '../../src/plan/types.ts';

/** The shipped pack, with overrides merged. */
export function pack(overrides: unknown = {}): Pack {
  return loadPack(undefined, false, mergeDeep({}, overrides));
}

/** The playbook of a machine, by name. */
export function playbookOf(name: string): Playbook {
  const p = playbooks[name];
  if (!p) throw new Error(`no playbook ${name}`);
  return p;
}

/** The input the loop would give a new plan (JSON round trip, as knowledge keeps it). */
export function planInput(playbook: Playbook, labels: Record<string, string>, opts: { pack?: Pack; subject?: Record<string, string>; recentIncidents?: number } = {}): unknown {
  const input = playbook.input(opts.pack ?? pack(), { labels, subject: opts.subject ?? {}, recentIncidents: opts.recentIncidents ?? 0 });
  return JSON.parse(JSON.stringify(input));
}

/** A sink of this worker for one machine's records. */
export function coverageSink(machine: string): CoverageSink {
  return jsonLinesSink(fs, fileURLToPath(new URL(`../../.tmp/transition-coverage/${machine}.${process.pid}.jsonl`, import.meta.url)));
}

export const ok = (step: string, result: Record<string, unknown> = {}): PlanEvent => ({ type: 'action.succeeded', step, actionId: `act-${step}`, result });
export const failed = (step: string, error = 'HTTP 500'): PlanEvent => ({ type: 'action.failed', step, actionId: `act-${step}`, error });
export const timer = (name: string): PlanEvent => ({ type: 'timer.fired', name });
export const rejected = (step: string, by = 'bob'): PlanEvent => ({ type: 'approval.rejected', step, actionId: `act-${step}`, by, comment: 'no' });
export const acked = (by = 'alice'): PlanEvent => ({ type: 'incident.acknowledged', by });
export const findingResolved = (name: string): PlanEvent => ({ type: 'finding.resolved', findingId: 'fnd-1', name });
export const findingAdded = (name: string, n = 2): PlanEvent => ({ type: 'finding.added', findingId: `fnd-${n}`, name, status: 'firing' });

/** A persisted snapshot in the wanted state, reached by the shortest event path from the start. */
export function at<C>(playbook: Playbook, input: unknown, opts: ReachOptions<C>): unknown {
  return reach<C>(playbook, input, opts).snapshot;
}

/** One declared transition, asserted from a source. */
export interface Case {
  name: string;
  claim: TransitionClaim;
  source: () => TransitionSource;
  expect: TransitionExpectation;
}

/** A declared transition no input the playbook builds can take, and why; `proof` throws when it holds. */
export interface Unreachable {
  claim: TransitionClaim;
  why: string;
  /** Shows it: e.g. the graph search finds no state where the guard could pass. */
  proof: () => void;
  /** The family machine does take it from an input the playbook never builds (asserted, not recorded). */
  synthetic?: Omit<Case, 'claim'>;
}

/**
 * The tests of one machine: each case asserted and recorded; `more` (the same transitions from
 * other sources) too; the ones this playbook's input never reaches shown unreachable, then
 * asserted and recorded from a hand-built snapshot of the family machine; and a check that cases and
 * unreachable ones together name each declared transition of machineChart exactly once.
 */
export function transitionSuite(playbook: Playbook, cases: Case[], opts: { more?: Case[]; unreachable?: Unreachable[] } = {}): void {
  const id = playbook.machine.id;
  const sink = coverageSink(id);
  const unreachable = opts.unreachable ?? [];
  describe(`${id}: every declared transition`, () => {
    for (const c of [...cases, ...(opts.more ?? [])]) {
      it(`${describeTransition(c.claim)}: ${c.name}`, () => {
        assertTransition(playbook, c.source(), c.claim, c.expect, sink, c.name);
      });
    }

    it('the cases name every transition machineChart declares, each once (the unreachable ones aside)', () => {
      const chart = machineChart(id)!;
      const declared = declaredTransitions(playbook.machine);
      expect(declared.map((t) => [t.from, t.event, t.to])).toEqual(chart.transitions.map((t) => [t.from, t.event, t.to]));
      const claimed = [...cases.map((c) => c.claim), ...unreachable.map((u) => u.claim)].map((c) => transitionKey(resolveClaim(playbook.machine, c)));
      expect(new Set(claimed).size).toBe(claimed.length);
      expect(claimed.sort()).toEqual(declared.map(transitionKey).sort());
    });
  });

  if (unreachable.length > 0) {
    describe(`${id}: declared transitions no input of the playbook reaches (findings, not recorded)`, () => {
      for (const u of unreachable) {
        it(`${describeTransition(u.claim)}: unreachable: ${u.why}`, () => {
          u.proof();
        });
        const s = u.synthetic;
        if (s) {
          // The family machine declares the transition and takes it: a snapshot in its source state
          // (built by hand, since this playbook's input never gets there) counts as covering it.
          it(`${describeTransition(u.claim)}: the family machine takes it from a hand-built input: ${s.name}`, () => {
            assertTransition(playbook, s.source(), u.claim, s.expect, sink, s.name);
          });
        }
      }
    });
  }
}

// ---------------------------------------------------------------------------------------------
// The families of charter-common: the cases of each, with the commands a playbook's test spells out.

/** How a family escalates: the escalation request with the reason appended (to its summary or text). */
export type Escalate = (reason: string) => ActionRequest;

/** The PromQL verification as a playbook's input builds it (remediate-verify and fanout-verify). */
export interface VerifySpec {
  query: string;
  expect: 'zero' | 'positive';
  firstCheckMs: number;
  intervalMs: number;
  deadlineMs: number;
}

/** A remediate-verify playbook, with the exact commands its input makes the plan send. */
export interface RemediateVerifySpec {
  playbook: Playbook;
  input: (recentIncidents?: number) => unknown;
  /** The subject of the escalations, and the flap window of the pack. */
  subject: string;
  flapWindow: string;
  /** The steps of attempt 1, as requested. */
  steps: ActionRequest[];
  /** The steps requested by attempt 2 (the repeatable ones, with iteration 2); unset when the input allows one attempt. */
  retry?: ActionRequest[];
  /** The index of the optional step (a best-effort notification), if any. */
  optional?: number;
  verify: VerifySpec;
  escalate: Escalate;
  onResolved?: ActionRequest;
}

type RvSnap = { value: unknown; context: RemediateVerifyContext };

/** The cases of a remediate-verify machine (screening, acting, verifying, retrying). */
export function remediateVerifySuite(spec: RemediateVerifySpec): void {
  const { playbook, steps, verify: v, escalate } = spec;
  const events = ({ context }: RvSnap): PlanEvent[] => {
    const a = context.attempt;
    const n = context.verifyChecks;
    return [
      ...stepsOf(context).flatMap((s) => [ok(s.step), failed(s.step)]),
      ok(`verify-a${a}-${n}`, { holds: true, value: 1 }),
      ok(`verify-a${a}-${n}`, { holds: false, value: 0 }),
      failed(`verify-a${a}-${n}`),
      timer(`verify-a${a}-check-${n + 1}`),
      timer(`verify-a${a}-deadline`),
    ];
  };
  const key = ({ value, context }: RvSnap) => JSON.stringify([value, context.attempt, context.cursor, Math.min(context.verifyChecks, 1)]);
  const snap = (where: (s: RvSnap) => boolean, input = spec.input()) => at<RemediateVerifyContext>(playbook, input, { events, key, where });
  const acting = (attempt: number, cursor: number) => (s: RvSnap) => s.value === 'acting' && s.context.attempt === attempt && s.context.cursor === cursor;
  const verifying = (attempt: number, checks: number) => (s: RvSnap) => s.value === 'verifying' && s.context.attempt === attempt && s.context.verifyChecks === checks;
  const armed = (attempt: number) => [
    { name: `verify-a${attempt}-check-1`, delayMs: v.firstCheckMs },
    { name: `verify-a${attempt}-deadline`, delayMs: v.deadlineMs },
  ];
  const verifyRequest = (attempt: number, n: number): ActionRequest => ({ step: `verify-a${attempt}-${n}`, type: 'prometheus.verify', params: { query: v.query, expect: v.expect } });
  const last = steps.length - 1;
  const first = steps[0]!;
  const maxAttempts = spec.retry ? 2 : 1;
  const notVerified = (attempts: number) => escalate(`not verified after ${attempts} attempt${attempts === 1 ? '' : 's'} (${v.query} expected ${v.expect})`);

  const cases: Case[] = [
    {
      name: 'a subject remediated 3 times within the flap window is escalated at once',
      claim: { from: 'screening', event: '(always)', guard: 'isFlapping', to: 'escalated' },
      source: () => ({ input: spec.input(3) }),
      expect: { state: 'escalated', incidentState: 'escalated', actions: [escalate(`flapping: 3 earlier incidents on ${spec.subject} within ${spec.flapWindow}`)] },
    },
    {
      name: 'below the flap limit the first step is asked for',
      claim: { from: 'screening', event: '(always)', to: 'acting' },
      source: () => ({ input: spec.input(2) }),
      expect: { state: 'acting', incidentState: 'remediating', actions: [first] },
    },
    {
      name: last > 0 ? 'the first step done asks for the next one' : 'the only step done (the next attempt is all the steps again)',
      claim: { from: 'acting', event: 'action.succeeded', guard: 'isCurrentStepDone', to: 'acting' },
      source: () => ({ snapshot: snap(acting(1, 0)), event: ok(first.step, { id: 'x-1' }) }),
      expect: last > 0 ? { state: 'acting', actions: [steps[1]!] } : { state: 'verifying', incidentState: 'verifying', timers: armed(1) },
    },
    {
      name: 'the first step dead escalates',
      claim: { from: 'acting', event: 'action.failed', guard: 'isCurrentStepFailed', to: 'escalated' },
      source: () => ({ snapshot: snap(acting(1, 0)), event: failed(first.step, 'HTTP 500 after 5 attempts') }),
      expect: { state: 'escalated', incidentState: 'escalated', actions: [escalate(`action ${first.step} failed: HTTP 500 after 5 attempts`)] },
    },
    last > 0
      ? {
          name: 'the last step done starts verification: first check and deadline armed',
          claim: { from: 'acting', event: '(always)', guard: 'allStepsDone', to: 'verifying' },
          source: () => ({ snapshot: snap(acting(1, last)), event: ok(steps[last]!.step) }),
          expect: { state: 'verifying', incidentState: 'verifying', timers: armed(1) },
        }
      : {
          name: 'the second attempt done starts its own verification (verify-a2-*)',
          claim: { from: 'acting', event: '(always)', guard: 'allStepsDone', to: 'verifying' },
          source: () => ({ snapshot: snap(acting(2, 0)), event: ok(spec.retry![0]!.step) }),
          expect: { state: 'verifying', incidentState: 'verifying', timers: armed(2) },
        },
    {
      name: 'a due check asks Prometheus',
      claim: { from: 'verifying', event: 'timer.fired', guard: 'isVerifyCheckDue', to: 'verifying' },
      source: () => ({ snapshot: snap(verifying(1, 0)), event: timer('verify-a1-check-1') }),
      expect: { state: 'verifying', incidentState: 'verifying', actions: [verifyRequest(1, 1)] },
    },
    maxAttempts > 1
      ? {
          name: 'the deadline without the predicate holding goes to another attempt',
          claim: { from: 'verifying', event: 'timer.fired', guard: 'isVerifyDeadline', to: 'retrying' },
          source: () => ({ snapshot: snap(verifying(1, 1)), event: timer('verify-a1-deadline') }),
          expect: { state: 'acting', incidentState: 'remediating', actions: [spec.retry![0]!] },
        }
      : {
          name: 'the deadline without the predicate holding escalates (one attempt only)',
          claim: { from: 'verifying', event: 'timer.fired', guard: 'isVerifyDeadline', to: 'retrying' },
          source: () => ({ snapshot: snap(verifying(1, 1)), event: timer('verify-a1-deadline') }),
          expect: { state: 'escalated', incidentState: 'escalated', actions: [notVerified(1)] },
        },
    {
      name: 'a check that holds resolves',
      claim: { from: 'verifying', event: 'action.succeeded', guard: 'verificationHolds', to: 'resolved' },
      source: () => ({ snapshot: snap(verifying(1, 1)), event: ok('verify-a1-1', { holds: true, value: 1 }) }),
      expect: { state: 'resolved', incidentState: 'resolved', ...(spec.onResolved ? { actions: [spec.onResolved] } : {}) },
    },
    {
      name: 'a check that does not hold arms the next one',
      claim: { from: 'verifying', event: 'action.succeeded', guard: 'isVerifyAnswer', to: 'verifying' },
      source: () => ({ snapshot: snap(verifying(1, 1)), event: ok('verify-a1-1', { holds: false, value: 0 }) }),
      expect: { state: 'verifying', timers: [{ name: 'verify-a1-check-2', delayMs: v.intervalMs }] },
    },
    {
      name: 'a check Prometheus could not answer is not evidence: check again',
      claim: { from: 'verifying', event: 'action.failed', guard: 'isVerifyAnswer', to: 'verifying' },
      source: () => ({ snapshot: snap(verifying(1, 1)), event: failed('verify-a1-1', 'Prometheus unreachable') }),
      expect: { state: 'verifying', timers: [{ name: 'verify-a1-check-2', delayMs: v.intervalMs }] },
    },
    maxAttempts > 1
      ? {
          name: 'with attempts left, the repeatable steps run again as iteration 2',
          claim: { from: 'retrying', event: '(always)', guard: 'canRetry', to: 'acting' },
          source: () => ({ snapshot: snap(verifying(1, 0)), event: timer('verify-a1-deadline') }),
          expect: { state: 'acting', incidentState: 'remediating', actions: [spec.retry![0]!] },
        }
      : {
          name: 'no attempt left: escalated with the predicate named',
          claim: { from: 'retrying', event: '(always)', to: 'escalated' },
          source: () => ({ snapshot: snap(verifying(1, 0)), event: timer('verify-a1-deadline') }),
          expect: { state: 'escalated', incidentState: 'escalated', actions: [notVerified(1)] },
        },
  ];
  if (maxAttempts > 1) {
    cases.push({
      name: 'the last attempt not verified escalates',
      claim: { from: 'retrying', event: '(always)', to: 'escalated' },
      source: () => ({ snapshot: snap(verifying(2, 1)), event: timer('verify-a2-deadline') }),
      expect: { state: 'escalated', incidentState: 'escalated', actions: [notVerified(2)] },
    });
  }
  const optional = spec.optional;
  if (optional !== undefined) {
    const o = steps[optional]!;
    cases.push({
      name: `a failed ${o.step} (best effort) is recorded and the plan goes on`,
      claim: { from: 'acting', event: 'action.failed', guard: 'and(isCurrentStepFailed, isOptionalStep)', to: 'acting' },
      source: () => ({ snapshot: snap(acting(1, optional)), event: failed(o.step, 'slack: channel_not_found') }),
      expect: optional < last ? { state: 'acting', actions: [steps[optional + 1]!] } : { state: 'verifying', incidentState: 'verifying', timers: armed(1) },
    });
  }

  const more: Case[] =
    maxAttempts > 1
      ? [
          {
            name: 'the second attempt checks under its own names',
            claim: { from: 'verifying', event: 'timer.fired', guard: 'isVerifyCheckDue', to: 'verifying' },
            source: () => ({ snapshot: snap(verifying(2, 0)), event: timer('verify-a2-check-1') }),
            expect: { state: 'verifying', actions: [verifyRequest(2, 1)] },
          },
          {
            name: 'the second attempt resolves on a check that holds',
            claim: { from: 'verifying', event: 'action.succeeded', guard: 'verificationHolds', to: 'resolved' },
            source: () => ({ snapshot: snap(verifying(2, 1)), event: ok('verify-a2-1', { holds: true, value: 1 }) }),
            expect: { state: 'resolved', ...(spec.onResolved ? { actions: [spec.onResolved] } : {}) },
          },
        ]
      : [];

  const unreachable: Unreachable[] = [];
  const input = spec.input() as RemediateVerifyInput;
  if (optional === undefined) {
    unreachable.push({
      claim: { from: 'acting', event: 'action.failed', guard: 'and(isCurrentStepFailed, isOptionalStep)', to: 'acting' },
      why: `the input builder of ${playbook.name} makes no optional step, so isOptionalStep never holds`,
      proof: () => {
        expect(input.steps.some((s) => s.optional)).toBe(false);
        expect(() => snap((s) => s.value === 'acting' && stepsOf(s.context)[s.context.cursor]?.optional === true)).toThrow(/no path from the start/);
      },
      synthetic: {
        name: 'the first step marked optional, then failed',
        source: () => {
          const made = { ...input, steps: input.steps.map((s, i) => (i === 0 ? { ...s, optional: true } : s)) };
          return { snapshot: snap(acting(1, 0), made), event: failed(first.step) };
        },
        expect: last > 0 ? { state: 'acting', actions: [steps[1]!] } : { state: 'verifying', timers: armed(1) },
      },
    });
  }
  if (maxAttempts === 1) {
    unreachable.push({
      claim: { from: 'retrying', event: '(always)', guard: 'canRetry', to: 'acting' },
      why: `the input builder of ${playbook.name} fixes maxAttempts at 1 (no pack setting changes it), so canRetry never holds`,
      proof: () => {
        expect(input.maxAttempts).toBe(1);
        expect(() => snap((s) => s.context.attempt > 1)).toThrow(/no path from the start/);
      },
      synthetic: {
        name: 'maxAttempts 2: a second attempt (no step repeats, so it only verifies again)',
        source: () => ({ snapshot: snap(verifying(1, 0), { ...input, maxAttempts: 2 }), event: timer('verify-a1-deadline') }),
        expect: {
          state: 'verifying',
          actions: steps.filter((_, i) => input.steps[i]!.repeat).map((s) => ({ ...s, iteration: 2 })),
          timers: armed(2),
        },
      },
    });
  }
  transitionSuite(playbook, cases, { more, unreachable });
}

/** A notify-watch playbook, with the exact commands its input makes the plan send. */
export interface NotifyWatchSpec {
  playbook: Playbook;
  input: () => unknown;
  /** The one notification its input sends. */
  notification: ActionRequest;
  watchMs: number;
  /** The check asked for at the watch deadline. */
  check: ActionRequest;
  escalate: Escalate;
  /** The finding that opened the incident (its resolution ends the watch). */
  finding: string;
}

type NwSnap = { value: unknown; context: NotifyWatchContext };

/** The cases of a notify-watch machine (notifying, watching, checking). */
export function notifyWatchSuite(spec: NotifyWatchSpec): void {
  const { playbook, notification: note, escalate } = spec;
  const events = (): PlanEvent[] => [
    ok(note.step),
    failed(note.step),
    findingResolved(spec.finding),
    timer('watch-deadline'),
    ok('check', { holds: true, value: 1 }),
    ok('check', { holds: false, value: 0 }),
    failed('check'),
  ];
  const key = ({ value, context }: NwSnap) => JSON.stringify([value, context.cursor]);
  const snap = (state: string) => at<NwSnap['context']>(playbook, spec.input(), { events, key, where: (s) => s.value === state });
  const watch = [{ name: 'watch-deadline', delayMs: spec.watchMs }];
  const minutes = spec.watchMs / 60_000;

  const cases: Case[] = [
    {
      name: 'the notification sent: nothing more to send',
      claim: { from: 'notifying', event: 'action.succeeded', guard: 'isCurrentNotification', to: 'notifying' },
      source: () => ({ snapshot: snap('notifying'), event: ok(note.step, { ts: '1.0' }) }),
      expect: { state: 'watching', incidentState: 'verifying', timers: watch },
    },
    {
      name: 'a failed notification is recorded; the watch goes on (best effort)',
      claim: { from: 'notifying', event: 'action.failed', guard: 'isCurrentNotification', to: 'notifying' },
      source: () => ({ snapshot: snap('notifying'), event: failed(note.step, 'slack: channel_not_found') }),
      expect: { state: 'watching', incidentState: 'verifying', timers: watch },
    },
    {
      name: 'all sent: the watch deadline is armed',
      claim: { from: 'notifying', event: '(always)', guard: 'allSent', to: 'watching' },
      source: () => ({ snapshot: snap('notifying'), event: ok(note.step) }),
      expect: { state: 'watching', timers: watch },
    },
    {
      name: 'the finding resolved before the notification was answered: resolved, nothing more',
      claim: { from: 'notifying', event: 'finding.resolved', to: 'resolved' },
      source: () => ({ snapshot: snap('notifying'), event: findingResolved(spec.finding) }),
      expect: { state: 'resolved', incidentState: 'resolved' },
    },
    {
      name: 'the finding resolved while watching: resolved',
      claim: { from: 'watching', event: 'finding.resolved', to: 'resolved' },
      source: () => ({ snapshot: snap('watching'), event: findingResolved(spec.finding) }),
      expect: { state: 'resolved', incidentState: 'resolved' },
    },
    {
      name: 'the watch deadline: check Prometheus once (level-based)',
      claim: { from: 'watching', event: 'timer.fired', guard: 'isWatchDeadline', to: 'checking' },
      source: () => ({ snapshot: snap('watching'), event: timer('watch-deadline') }),
      expect: { state: 'checking', incidentState: 'verifying', actions: [spec.check] },
    },
    {
      name: 'the check holds: resolved',
      claim: { from: 'checking', event: 'action.succeeded', guard: 'checkHolds', to: 'resolved' },
      source: () => ({ snapshot: snap('checking'), event: ok('check', { holds: true, value: 1 }) }),
      expect: { state: 'resolved', incidentState: 'resolved' },
    },
    {
      name: 'still breached: escalated',
      claim: { from: 'checking', event: 'action.succeeded', guard: 'isCheckAnswer', to: 'escalated' },
      source: () => ({ snapshot: snap('checking'), event: ok('check', { holds: false, value: 0 }) }),
      expect: { state: 'escalated', incidentState: 'escalated', actions: [escalate(`still breached after ${minutes} min`)] },
    },
    {
      name: 'the check could not run: recovery not confirmed, escalated (the safe outcome)',
      claim: { from: 'checking', event: 'action.failed', guard: 'isCheckAnswer', to: 'escalated' },
      source: () => ({ snapshot: snap('checking'), event: failed('check', 'Prometheus unreachable') }),
      expect: { state: 'escalated', incidentState: 'escalated', actions: [escalate(`still open after ${minutes} min; recovery not confirmed (Prometheus unreachable)`)] },
    },
    {
      name: 'the finding resolved while the check runs: resolved',
      claim: { from: 'checking', event: 'finding.resolved', to: 'resolved' },
      source: () => ({ snapshot: snap('checking'), event: findingResolved(spec.finding) }),
      expect: { state: 'resolved', incidentState: 'resolved' },
    },
  ];
  transitionSuite(playbook, cases);
}

/** A fanout-verify playbook, with the exact commands its input makes the plan send. */
export interface FanoutVerifySpec {
  playbook: Playbook;
  input: () => unknown;
  before: ActionRequest[];
  read: ActionRequest;
  /** The records the read answers with: two selected (acted on, in this order), the rest skipped. */
  items: Array<Record<string, unknown>>;
  /** The request made for each of the two selected records. */
  targets: [ActionRequest, ActionRequest];
  /** The reports after acting, given how many succeeded and failed. */
  after: (acted: number, failed: number) => ActionRequest[];
  verify: VerifySpec;
  escalate: Escalate;
}

type FvSnap = { value: unknown; context: FanoutVerifyContext };

/** The cases of a fanout-verify machine (notifying, reading, acting, reporting, verifying). */
export function fanoutVerifySuite(spec: FanoutVerifySpec): void {
  const { playbook, read, targets, verify: v, escalate } = spec;
  const [t1, t2] = targets;
  const readAnswer = ok(read.step, { count: spec.items.length, items: spec.items });
  const events = ({ context }: FvSnap): PlanEvent[] => {
    const list = context.phase === 'before' ? context.before : context.after;
    const n = context.verifyChecks;
    return [
      ...list.flatMap((r) => [ok(r.step), failed(r.step)]),
      readAnswer,
      failed(read.step),
      ...targets.flatMap((t) => [ok(t.step), failed(t.step), rejected(t.step)]),
      ok(`verify-${n}`, { holds: true, value: 1 }),
      ok(`verify-${n}`, { holds: false, value: 0 }),
      failed(`verify-${n}`),
      timer(`verify-check-${n + 1}`),
      timer('verify-deadline'),
    ];
  };
  const key = ({ value, context }: FvSnap) => JSON.stringify([value, context.phase, context.cursor, context.targets, Math.min(context.verifyChecks, 1)]);
  const snap = (where: (s: FvSnap) => boolean, input = spec.input()) => at<FanoutVerifyContext>(playbook, input, { events, key, where });
  const state = (name: string) => (s: FvSnap) => s.value === name;
  const acting = (first: string, second: string) => (s: FvSnap) => s.value === 'acting' && s.context.targets[t1.step] === first && s.context.targets[t2.step] === second;
  const verifying = (checks: number) => (s: FvSnap) => s.value === 'verifying' && s.context.verifyChecks === checks;
  const armed = [
    { name: 'verify-check-1', delayMs: v.firstCheckMs },
    { name: 'verify-deadline', delayMs: v.deadlineMs },
  ];
  const after = spec.after(2, 0);
  const allActed: TransitionExpectation = after.length > 0 ? { state: 'reporting', incidentState: 'remediating', actions: [after[0]!] } : { state: 'verifying', incidentState: 'verifying', timers: armed };
  const input = spec.input() as FanoutVerifyInput;

  const cases: Case[] = [
    {
      name: spec.before.length > 0 ? 'the notifications answered: the records are read' : 'nothing to notify first: the records are read at once',
      claim: { from: 'notifying', event: '(always)', guard: 'allNotified', to: 'reading' },
      source: () => (spec.before.length > 0 ? { snapshot: snap(state('notifying')), event: ok(spec.before[0]!.step) } : { input: spec.input() }),
      expect: { state: 'reading', incidentState: 'remediating', actions: [read] },
    },
    {
      name: 'the records read: one action per selected record, the others skipped',
      claim: { from: 'reading', event: 'action.succeeded', guard: 'isReadAnswer', to: 'acting' },
      source: () => ({ snapshot: snap(state('reading')), event: readAnswer }),
      expect: { state: 'acting', incidentState: 'remediating', actions: [t1, t2] },
    },
    {
      name: 'the read failed: escalated',
      claim: { from: 'reading', event: 'action.failed', guard: 'isReadAnswer', to: 'escalated' },
      source: () => ({ snapshot: snap(state('reading')), event: failed(read.step, 'HTTP 503') }),
      expect: { state: 'escalated', incidentState: 'escalated', actions: [escalate(`could not read ${input.readPath}: HTTP 503`)] },
    },
    {
      name: 'one record acted on, the other still pending: acting goes on',
      claim: { from: 'acting', event: 'action.succeeded', guard: 'isTargetAnswer', to: 'acting' },
      source: () => ({ snapshot: snap(acting('pending', 'pending')), event: ok(t1.step, { id: 'x-1' }) }),
      expect: { state: 'acting' },
    },
    {
      name: 'one record failed, the other still pending: acting goes on',
      claim: { from: 'acting', event: 'action.failed', guard: 'isTargetAnswer', to: 'acting' },
      source: () => ({ snapshot: snap(acting('pending', 'pending')), event: failed(t1.step) }),
      expect: { state: 'acting' },
    },
    {
      name: 'one record rejected (its approval refused), the other still pending: acting goes on',
      claim: { from: 'acting', event: 'approval.rejected', guard: 'isTargetAnswer', to: 'acting' },
      source: () => ({ snapshot: snap(acting('pending', 'pending')), event: rejected(t1.step) }),
      expect: { state: 'acting' },
    },
    {
      name: 'every action failed: escalated',
      claim: { from: 'acting', event: '(always)', guard: 'allTargetsFailed', to: 'escalated' },
      source: () => ({ snapshot: snap(acting('failed', 'pending')), event: failed(t2.step) }),
      expect: { state: 'escalated', incidentState: 'escalated', actions: [escalate(`every ${t1.type} failed`)] },
    },
    {
      name: 'every action settled: report',
      claim: { from: 'acting', event: '(always)', guard: 'allTargetsSettled', to: 'reporting' },
      source: () => ({ snapshot: snap(acting('succeeded', 'pending')), event: ok(t2.step) }),
      expect: allActed,
    },
    {
      name: 'a due check asks Prometheus',
      claim: { from: 'verifying', event: 'timer.fired', guard: 'isVerifyCheckDue', to: 'verifying' },
      source: () => ({ snapshot: snap(verifying(0)), event: timer('verify-check-1') }),
      expect: { state: 'verifying', incidentState: 'verifying', actions: [{ step: 'verify-1', type: 'prometheus.verify', params: { query: v.query, expect: v.expect } }] },
    },
    {
      name: 'the deadline without the predicate holding escalates',
      claim: { from: 'verifying', event: 'timer.fired', guard: 'isVerifyDeadline', to: 'escalated' },
      source: () => ({ snapshot: snap(verifying(1)), event: timer('verify-deadline') }),
      expect: { state: 'escalated', incidentState: 'escalated', actions: [escalate(`not verified before the deadline (${v.query} expected ${v.expect})`)] },
    },
    {
      name: 'a check that holds resolves',
      claim: { from: 'verifying', event: 'action.succeeded', guard: 'verificationHolds', to: 'resolved' },
      source: () => ({ snapshot: snap(verifying(1)), event: ok('verify-1', { holds: true, value: 1 }) }),
      expect: { state: 'resolved', incidentState: 'resolved' },
    },
    {
      name: 'a check that does not hold arms the next one',
      claim: { from: 'verifying', event: 'action.succeeded', guard: 'isVerifyAnswer', to: 'verifying' },
      source: () => ({ snapshot: snap(verifying(1)), event: ok('verify-1', { holds: false, value: 0 }) }),
      expect: { state: 'verifying', timers: [{ name: 'verify-check-2', delayMs: v.intervalMs }] },
    },
    {
      name: 'a check Prometheus could not answer: check again',
      claim: { from: 'verifying', event: 'action.failed', guard: 'isVerifyAnswer', to: 'verifying' },
      source: () => ({ snapshot: snap(verifying(1)), event: failed('verify-1', 'Prometheus unreachable') }),
      expect: { state: 'verifying', timers: [{ name: 'verify-check-2', delayMs: v.intervalMs }] },
    },
  ];

  const unreachable: Unreachable[] = [];
  const reportAfterBefore: TransitionExpectation = { state: 'reading', actions: [read] };
  const syntheticNote: ActionRequest = { step: 'notify-x', type: 'slack.message', params: { channel: '#x', text: 'x' } };
  if (spec.before.length > 0) {
    const b = spec.before[0]!;
    const next: TransitionExpectation = spec.before.length > 1 ? { state: 'notifying', actions: [spec.before[1]!] } : { state: 'reading', incidentState: 'remediating', actions: [read] };
    cases.push(
      {
        name: 'the notification sent: the next (or the read)',
        claim: { from: 'notifying', event: 'action.succeeded', guard: 'isCurrentNotification', to: 'notifying' },
        source: () => ({ snapshot: snap(state('notifying')), event: ok(b.step, { id: 'n-1' }) }),
        expect: next,
      },
      {
        name: 'a failed notification does not stop the plan (best effort)',
        claim: { from: 'notifying', event: 'action.failed', guard: 'isCurrentNotification', to: 'notifying' },
        source: () => ({ snapshot: snap(state('notifying')), event: failed(b.step) }),
        expect: next,
      },
    );
  } else {
    for (const [event, make] of [['action.succeeded', ok], ['action.failed', failed]] as const) {
      unreachable.push({
        claim: { from: 'notifying', event, guard: 'isCurrentNotification', to: 'notifying' },
        why: `the input builder of ${playbook.name} sends no notification before reading (before: []), so the plan leaves notifying as it starts`,
        proof: () => {
          expect(input.before).toEqual([]);
          expect(() => snap(state('notifying'))).toThrow(/no path from the start/);
        },
        synthetic: {
          name: 'one notification before reading',
          source: () => ({ snapshot: snap(state('notifying'), { ...input, before: [syntheticNote] }), event: make(syntheticNote.step) }),
          expect: reportAfterBefore,
        },
      });
    }
  }
  if (after.length > 0) {
    const a = after[0]!;
    const reporting = (s: FvSnap) => s.value === 'reporting' && s.context.cursor === 0 && s.context.targets[t1.step] === 'succeeded' && s.context.targets[t2.step] === 'succeeded';
    const next: TransitionExpectation = after.length > 1 ? { state: 'reporting', actions: [after[1]!] } : { state: 'verifying', incidentState: 'verifying', timers: armed };
    cases.push(
      {
        name: 'the report sent: verification starts',
        claim: { from: 'reporting', event: 'action.succeeded', guard: 'isCurrentNotification', to: 'reporting' },
        source: () => ({ snapshot: snap(reporting), event: ok(a.step, { ts: '1.0' }) }),
        expect: next,
      },
      {
        name: 'a failed report does not stop the plan (best effort)',
        claim: { from: 'reporting', event: 'action.failed', guard: 'isCurrentNotification', to: 'reporting' },
        source: () => ({ snapshot: snap(reporting), event: failed(a.step, 'slack: channel_not_found') }),
        expect: next,
      },
      {
        name: 'all reported: the first check and the deadline armed',
        claim: { from: 'reporting', event: '(always)', guard: 'allNotified', to: 'verifying' },
        source: () => ({ snapshot: snap(reporting), event: ok(a.step) }),
        expect: { state: 'verifying', incidentState: 'verifying', timers: armed },
      },
    );
  } else {
    cases.push({
      name: 'nothing to report: verification starts at once (one action failed, one done)',
      claim: { from: 'reporting', event: '(always)', guard: 'allNotified', to: 'verifying' },
      source: () => ({ snapshot: snap(acting('failed', 'pending')), event: ok(t2.step) }),
      expect: { state: 'verifying', incidentState: 'verifying', timers: armed },
    });
    for (const [event, make] of [['action.succeeded', ok], ['action.failed', failed]] as const) {
      unreachable.push({
        claim: { from: 'reporting', event, guard: 'isCurrentNotification', to: 'reporting' },
        why: `the input builder of ${playbook.name} sends no report after acting (after: []), so the plan leaves reporting as it enters it`,
        proof: () => {
          expect(input.after).toEqual([]);
          expect(() => snap(state('reporting'))).toThrow(/no path from the start/);
        },
        synthetic: {
          name: 'one report after acting',
          source: () => ({ snapshot: snap((s) => s.value === 'reporting', { ...input, after: [syntheticNote] }), event: make(syntheticNote.step) }),
          expect: { state: 'verifying', timers: armed },
        },
      });
    }
  }
  transitionSuite(playbook, cases, { unreachable });
}

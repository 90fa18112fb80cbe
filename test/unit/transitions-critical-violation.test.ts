// Every declared transition of the critical-violation machine (machineChart: states, the root '*'
// handlers and the '(always)' ones, each guard branch on its own), asserted one at a time: the
// source snapshot is reached by the shortest event path xstate/graph finds from the start, replayed
// through the pure step with a JSON round trip; the event is sent; the claimed transition, the state
// the plan rests in and every command emitted are checked; then it is recorded for
// scripts/transition-coverage.ts.
import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadPack } from '../../src/config.ts';
import { machineChart } from '../../src/plan/chart.ts';
import {
  assertTransition,
  declaredTransitions,
  describeTransition,
  jsonLinesSink,
  reach,
  resolveClaim,
  transitionKey,
  TransitionAssertionError,
  type TransitionClaim,
  type TransitionExpectation,
  type TransitionSource,
} from '../../src/plan/coverage.ts';
import type { CriticalViolationContext } from '../../src/plan/playbooks/critical-violation/machine.ts';
import { SEVERITIES } from '../../src/plan/playbooks/critical-violation/ladder.ts';
import { playbooks } from '../../src/plan/playbooks/index.ts';
import type { ActionRequest, PlanEvent } from '../../src/plan/types.ts';

const playbook = playbooks['critical-violation']!;
const pack = loadPack();
const COVERAGE_FILE = fileURLToPath(new URL(`../../.tmp/transition-coverage/critical-violation.${process.pid}.jsonl`, import.meta.url));
const sink = jsonLinesSink(fs, COVERAGE_FILE);

const NODE = 'node-7';
const LABELS = { alertname: 'CriticalViolationDetected', node_or_service: NODE, severity: 'critical', violation_type: 'forbidden_metric' };

/** The plan input the loop would give, under the shipped pack. */
function input(recentIncidents = 0): unknown {
  return playbook.input(pack, { labels: LABELS, subject: { node_or_service: NODE }, recentIncidents });
}

const ok = (step: string, result: Record<string, unknown> = {}): PlanEvent => ({ type: 'action.succeeded', step, actionId: `act-${step}`, result });
const failed = (step: string, error = 'HTTP 500'): PlanEvent => ({ type: 'action.failed', step, actionId: `act-${step}`, error });
const timer = (name: string): PlanEvent => ({ type: 'timer.fired', name });
const rejected = (step: string): PlanEvent => ({ type: 'approval.rejected', step, actionId: `act-${step}`, by: 'alice', comment: 'no' });

type Snap = { value: unknown; context: CriticalViolationContext };

/** Every event a plan could hear in a state: answers to what it asked, its timers, the gate's outcomes. */
function events({ context }: Snap): PlanEvent[] {
  const n = context.verifyChecks;
  return [
    ...SEVERITIES.map((s) => ok('lookup-severity', { severities: [s] })),
    failed('lookup-severity'),
    ...context.steps.flatMap((s) => [ok(s.step), failed(s.step)]),
    ok('remove-node'),
    failed('remove-node'),
    rejected('remove-node'),
    ok(`verify-${n}`, { holds: true }),
    ok(`verify-${n}`, { holds: false }),
    failed(`verify-${n}`),
    timer(`verify-check-${n + 1}`),
    timer('verify-deadline'),
    timer('removal-deadline'),
  ];
}

/** What tells states apart for the search: counters beyond the first check collapse. */
const key = ({ value, context }: Snap) => JSON.stringify([value, context.severity, context.cursor, context.removal, Math.min(context.verifyChecks, 1)]);

/** A persisted snapshot in the wanted state, reached from the start by the shortest path. */
function at(where: (s: Snap) => boolean, recentIncidents = 0): unknown {
  return reach<CriticalViolationContext>(playbook, input(recentIncidents), { events, key, where }).snapshot;
}
const current = (s: Snap) => s.context.steps[s.context.cursor]?.step;
const acting = (severity: string, step: string) => (s: Snap) => s.value === 'acting' && s.context.severity === severity && current(s) === step;
const verifying = (severity: string, checks: number) => (s: Snap) => s.value === 'verifying' && s.context.severity === severity && s.context.verifyChecks === checks;

// The commands, spelled out as the Charter pack asks for them.
const lookup: ActionRequest = { step: 'lookup-severity', type: 'prometheus.severity', params: { node_or_service: NODE, window: '15m' } };
const investigate = (severity: string): ActionRequest => ({
  step: 'investigate',
  type: 'charter.investigation',
  params: { violation_type: 'forbidden_metric', node_or_service: NODE, initiated_by: 'system', severity },
});
const quarantine = (severity: string): ActionRequest => ({
  step: 'quarantine',
  type: 'charter.quarantine',
  params: { node_or_service: NODE, reason: `CriticalViolationDetected: ${severity} violations` },
});
const escalateCommittee = (severity: string): ActionRequest => ({
  step: 'escalate-committee',
  type: 'charter.notification',
  params: { severity, summary: `ESCALATION: ${severity} violation by ${NODE}; committee action required`, recipients: ['audit-committee'], node_or_service: NODE },
});
const removeNode = (severity: string): ActionRequest => ({
  step: 'remove-node',
  type: 'charter.revocation',
  params: { node_or_service: NODE, reason: `${severity} violation`, scope: 'all' },
  approvalQuorum: 2,
});
const verify = (n: number): ActionRequest => ({
  step: `verify-${n}`,
  type: 'prometheus.verify',
  params: { query: `sum(increase(westworld_charter_violations_total{node_or_service="${NODE}"}[1m]))`, expect: 'zero' },
});
const page = (reason: string): ActionRequest => ({
  step: 'page',
  type: 'page',
  params: { summary: `CriticalViolationDetected for ${NODE} escalated: ${reason}`, severity: 'critical', node_or_service: NODE },
});

interface Case {
  name: string;
  claim: TransitionClaim;
  source: () => TransitionSource;
  expect: TransitionExpectation;
}

const cases: Case[] = [
  // screening: the flap guard, then the way in
  {
    name: 'a flapping subject is escalated at once, with a page and nothing else',
    claim: { from: 'screening', event: '(always)', guard: 'isFlapping', to: 'escalated' },
    source: () => ({ input: input(3) }),
    expect: { state: 'escalated', incidentState: 'escalated', actions: [page('flapping: 3 earlier incidents on node-7 within 6h')] },
  },
  {
    name: 'below the flap limit the plan looks the severity up',
    claim: { from: 'screening', event: '(always)', to: 'lookingUp' },
    source: () => ({ input: input(2) }),
    expect: { state: 'lookingUp', incidentState: 'remediating', actions: [lookup] },
  },
  // lookingUp
  {
    name: 'the severity found moves to planning (SUSPENSION: investigate first)',
    claim: { from: 'lookingUp', event: 'action.succeeded', guard: 'isLookupDone', to: 'planning' },
    source: () => ({ snapshot: at((s) => s.value === 'lookingUp'), event: ok('lookup-severity', { severities: ['SUSPENSION', 'WARNING'] }) }),
    expect: { state: 'acting', actions: [investigate('SUSPENSION')] },
  },
  {
    name: 'a failed lookup plans with the safe default (SUSPENSION)',
    claim: { from: 'lookingUp', event: 'action.failed', guard: 'isLookupDone', to: 'planning' },
    source: () => ({ snapshot: at((s) => s.value === 'lookingUp'), event: failed('lookup-severity', 'Prometheus unreachable') }),
    expect: { state: 'acting', actions: [investigate('SUSPENSION')] },
  },
  // planning (eventless, entered by the lookup's answer)
  {
    name: 'a ban asks for the gated removal and arms its deadline, then escalates to the committee',
    claim: { from: 'planning', event: '(always)', guard: 'isBanSeverity', to: 'acting' },
    source: () => ({ snapshot: at((s) => s.value === 'lookingUp'), event: ok('lookup-severity', { severities: ['BAN_1YEAR'] }) }),
    expect: {
      state: 'acting',
      incidentState: 'remediating',
      actions: [removeNode('BAN_1YEAR'), escalateCommittee('BAN_1YEAR')],
      timers: [{ name: 'removal-deadline', delayMs: 1_800_000 }],
    },
  },
  {
    name: 'no ban: straight to acting (WARNING: investigate, no quarantine)',
    claim: { from: 'planning', event: '(always)', to: 'acting' },
    source: () => ({ snapshot: at((s) => s.value === 'lookingUp'), event: ok('lookup-severity', { severities: ['WARNING'] }) }),
    expect: { state: 'acting', actions: [investigate('WARNING')] },
  },
  // acting
  {
    name: 'the last step done starts verification: first check and deadline armed',
    claim: { from: 'acting', event: 'action.succeeded', guard: 'and(isCurrentStepDone, isLastStep)', to: 'verifying' },
    source: () => ({ snapshot: at(acting('SUSPENSION', 'notify-committee')), event: ok('notify-committee', { id: 'n-1' }) }),
    expect: {
      state: 'verifying',
      incidentState: 'verifying',
      timers: [
        { name: 'verify-check-1', delayMs: 30_000 },
        { name: 'verify-deadline', delayMs: 300_000 },
      ],
    },
  },
  {
    name: 'a step done asks for the next one (investigate → quarantine)',
    claim: { from: 'acting', event: 'action.succeeded', guard: 'isCurrentStepDone', to: 'acting' },
    source: () => ({ snapshot: at(acting('SUSPENSION', 'investigate')), event: ok('investigate', { id: 'inv-1' }) }),
    expect: { state: 'acting', actions: [quarantine('SUSPENSION')] },
  },
  {
    name: 'a dead step escalates with a page',
    claim: { from: 'acting', event: 'action.failed', guard: 'isCurrentStepFailed', to: 'escalated' },
    source: () => ({ snapshot: at(acting('SUSPENSION', 'quarantine')), event: failed('quarantine', 'HTTP 500 after 5 attempts') }),
    expect: { state: 'escalated', incidentState: 'escalated', actions: [page('action quarantine failed: HTTP 500 after 5 attempts')] },
  },
  // verifying
  {
    name: 'a due check asks Prometheus whether violations stopped',
    claim: { from: 'verifying', event: 'timer.fired', guard: 'isVerifyCheckDue', to: 'verifying' },
    source: () => ({ snapshot: at(verifying('SUSPENSION', 0)), event: timer('verify-check-1') }),
    expect: { state: 'verifying', actions: [verify(1)] },
  },
  {
    name: 'the verification deadline escalates with a page',
    claim: { from: 'verifying', event: 'timer.fired', guard: 'isVerifyDeadline', to: 'escalated' },
    source: () => ({ snapshot: at(verifying('SUSPENSION', 1)), event: timer('verify-deadline') }),
    expect: { state: 'escalated', incidentState: 'escalated', actions: [page('violations did not stop before the verification deadline')] },
  },
  {
    name: 'a check that holds resolves',
    claim: { from: 'verifying', event: 'action.succeeded', guard: 'verificationHolds', to: 'resolved' },
    source: () => ({ snapshot: at(verifying('SUSPENSION', 1)), event: ok('verify-1', { holds: true, value: 0 }) }),
    expect: { state: 'resolved', incidentState: 'resolved' },
  },
  {
    name: 'a check that does not hold arms the next one',
    claim: { from: 'verifying', event: 'action.succeeded', guard: 'isVerifyAnswer', to: 'verifying' },
    source: () => ({ snapshot: at(verifying('SUSPENSION', 1)), event: ok('verify-1', { holds: false, value: 4 }) }),
    expect: { state: 'verifying', timers: [{ name: 'verify-check-2', delayMs: 15_000 }] },
  },
  {
    name: 'a check Prometheus could not answer is not evidence: check again',
    claim: { from: 'verifying', event: 'action.failed', guard: 'isVerifyAnswer', to: 'verifying' },
    source: () => ({ snapshot: at(verifying('SUSPENSION', 1)), event: failed('verify-1', 'Prometheus unreachable') }),
    expect: { state: 'verifying', timers: [{ name: 'verify-check-2', delayMs: 15_000 }] },
  },
  // the machine's own handlers: the gated removal runs beside the plan, in any state
  {
    name: 'the removal carried out is recorded, the plan carries on where it is',
    claim: { from: '*', event: 'action.succeeded', guard: 'isRemovalOutcome', to: '*' },
    source: () => ({ snapshot: at(acting('BAN_1YEAR', 'investigate')), event: ok('remove-node', { id: 'rev-1', status: 'done' }) }),
    expect: { state: 'acting', incidentState: 'remediating' },
  },
  {
    name: 'a removal that could not run escalates',
    claim: { from: '*', event: 'action.failed', guard: 'isRemovalOutcome', to: 'escalated' },
    source: () => ({ snapshot: at(acting('PERMANENT_BAN', 'quarantine')), event: failed('remove-node', 'budget for charter.revocation spent (5 of 5 per 10m)') }),
    expect: { state: 'escalated', incidentState: 'escalated', actions: [page('removal failed: budget for charter.revocation spent (5 of 5 per 10m)')] },
  },
  {
    name: 'a rejected removal escalates to the committee',
    claim: { from: '*', event: 'approval.rejected', guard: 'isRemovalOutcome', to: 'escalated' },
    source: () => ({ snapshot: at(verifying('PERMANENT_BAN', 1)), event: rejected('remove-node') }),
    expect: { state: 'escalated', incidentState: 'escalated', actions: [page('removal rejected by the committee')] },
  },
  {
    name: 'the removal deadline passing without a quorum expires the removal and escalates, even once resolved',
    claim: { from: '*', event: 'timer.fired', guard: 'isRemovalDeadline', to: 'escalated' },
    source: () => ({ snapshot: at((s) => s.value === 'resolved' && s.context.removal === 'awaiting_approval'), event: timer('removal-deadline') }),
    expect: {
      state: 'escalated',
      incidentState: 'escalated',
      actions: [page('removal not approved before its deadline')],
      expire: [{ step: 'remove-node', reason: 'approval deadline passed without a quorum' }],
    },
  },
];

// The same root handlers from other states (recorded too: each assertion is a test of its own).
const rootFromElsewhere: Case[] = [
  {
    name: 'the removal deadline counts while remediation still runs',
    claim: { from: '*', event: 'timer.fired', guard: 'isRemovalDeadline', to: 'escalated' },
    source: () => ({ snapshot: at(acting('BAN_1YEAR', 'escalate-committee')), event: timer('removal-deadline') }),
    expect: {
      state: 'escalated',
      actions: [page('removal not approved before its deadline')],
      expire: [{ step: 'remove-node', reason: 'approval deadline passed without a quorum' }],
    },
  },
  {
    name: 'the removal deadline counts while verifying',
    claim: { from: '*', event: 'timer.fired', guard: 'isRemovalDeadline', to: 'escalated' },
    source: () => ({ snapshot: at(verifying('PERMANENT_BAN', 0)), event: timer('removal-deadline') }),
    expect: {
      state: 'escalated',
      actions: [page('removal not approved before its deadline')],
      expire: [{ step: 'remove-node', reason: 'approval deadline passed without a quorum' }],
    },
  },
  {
    name: 'the removal carried out while verifying leaves verification alone',
    claim: { from: '*', event: 'action.succeeded', guard: 'isRemovalOutcome', to: '*' },
    source: () => ({ snapshot: at(verifying('PERMANENT_BAN', 1)), event: ok('remove-node', { id: 'rev-2' }) }),
    expect: { state: 'verifying', incidentState: 'verifying' },
  },
];

describe('critical-violation: every declared transition', () => {
  for (const c of [...cases, ...rootFromElsewhere]) {
    it(`${describeTransition(c.claim)}: ${c.name}`, () => {
      assertTransition(playbook, c.source(), c.claim, c.expect, sink, c.name);
    });
  }

  it('the cases above name every transition machineChart declares, each once', () => {
    const chart = machineChart('critical-violation')!;
    const claimed = cases.map((c) => transitionKey(resolveClaim(playbook.machine, c.claim)));
    expect(new Set(claimed).size).toBe(claimed.length);
    const declared = declaredTransitions(playbook.machine);
    expect(declared.map((t) => [t.from, t.event, t.to])).toEqual(chart.transitions.map((t) => [t.from, t.event, t.to]));
    expect(claimed.sort()).toEqual(declared.map(transitionKey).sort());
  });
});

describe('the assertion itself can fail', () => {
  const source = (): TransitionSource => ({ snapshot: at(verifying('SUSPENSION', 1)), event: ok('verify-1', { holds: false, value: 4 }) });
  const claim: TransitionClaim = { from: 'verifying', event: 'action.succeeded', guard: 'isVerifyAnswer', to: 'verifying' };
  const noSink = { record: () => expect.unreachable('a failed assertion must not be recorded') };

  it('on a wrong target state', () => {
    expect(() => assertTransition(playbook, source(), claim, { state: 'resolved', timers: [{ name: 'verify-check-2', delayMs: 15_000 }] }, noSink)).toThrow(/rests in verifying, expected resolved/);
  });

  it('on a command missing from the expectation (absent lists mean none)', () => {
    expect(() => assertTransition(playbook, source(), claim, { state: 'verifying' }, noSink)).toThrow(/timers: expected \[\]/);
  });

  it('on a wrong command', () => {
    expect(() => assertTransition(playbook, source(), claim, { state: 'verifying', timers: [{ name: 'verify-check-2', delayMs: 30_000 }] }, noSink)).toThrow(TransitionAssertionError);
  });

  it('when another declared transition was taken', () => {
    const holds: TransitionSource = { snapshot: at(verifying('SUSPENSION', 1)), event: ok('verify-1', { holds: true }) };
    expect(() => assertTransition(playbook, holds, claim, { state: 'verifying' }, noSink)).toThrow(/took verifying --action.succeeded \[verificationHolds\]--> resolved/);
  });

  it('when the source snapshot is not in the claimed source state', () => {
    const wrong: TransitionSource = { snapshot: at((s) => s.value === 'lookingUp'), event: ok('verify-1', { holds: false }) };
    expect(() => assertTransition(playbook, wrong, claim, { state: 'lookingUp' }, noSink)).toThrow(/source snapshot is in lookingUp/);
  });

  it('on a claim that names no declared transition', () => {
    expect(() => resolveClaim(playbook.machine, { from: 'verifying', event: 'action.succeeded', guard: 'isLookupDone', to: 'resolved' })).toThrow(/no declared transition matches/);
  });
});

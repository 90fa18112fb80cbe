// The critical-violation playbook, driven through the pure plan step exactly as the loop drives it:
// every snapshot is persisted (JSON.stringify → JSON.parse) between steps, as knowledge stores it.
import fc from 'fast-check';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { escapePromQL, type CriticalViolationInput, type CriticalViolationSettings } from '../../src/plan/playbooks/critical-violation/machine.ts';
import { SEVERITIES, type CharterSeverity } from '../../src/plan/playbooks/critical-violation/ladder.ts';
import { playbooks } from '../../src/plan/playbooks/index.ts';
import { startPlan, stepPlan } from '../../src/plan/step.ts';
import type { ActionRequest, IncidentState, PlanEvent, StepResult } from '../../src/plan/types.ts';

const playbook = playbooks['critical-violation']!;

/** The shipped pack's settings (packs/charter/pack.yaml, CHARTER.md), durations in ms. */
const SETTINGS: CriticalViolationSettings = {
  severityLookupWindow: '15m',
  verifyWindow: '1m',
  verifyFirstCheckMs: 30_000,
  verifyIntervalMs: 15_000,
  verifyDeadlineMs: 300_000,
  removalQuorum: 2,
  removalApprovalDeadlineMs: 1_800_000,
  recipients: ['audit-committee'],
};

const INCIDENT_STATES: readonly IncidentState[] = ['open', 'remediating', 'verifying', 'resolved', 'escalated'];

function input(node = 'node-7', extraLabels: Record<string, string> = {}): CriticalViolationInput {
  return {
    node,
    alertname: 'CriticalViolationDetected',
    labels: { alertname: 'CriticalViolationDetected', node_or_service: node, severity: 'critical', ...extraLabels },
    settings: SETTINGS,
  };
}

const ok = (step: string, result: Record<string, unknown> = {}): PlanEvent => ({ type: 'action.succeeded', step, actionId: `act-${step}`, result });
const failed = (step: string, error = 'HTTP 500'): PlanEvent => ({ type: 'action.failed', step, actionId: `act-${step}`, error });
const timer = (name: string): PlanEvent => ({ type: 'timer.fired', name });

/** Persists like knowledge does: only what survives JSON. */
const persist = (snapshot: unknown): unknown => JSON.parse(JSON.stringify(snapshot));

/** One plan, stepped one event at a time with a JSON round trip in between. */
class Plan {
  snapshot: unknown;
  last: StepResult;
  readonly history: StepResult[] = [];

  constructor(inp: CriticalViolationInput = input()) {
    this.last = startPlan(playbook, inp);
    this.history.push(this.last);
    this.snapshot = persist(this.last.snapshot);
  }

  send(event: PlanEvent): StepResult {
    this.last = stepPlan(playbook, this.snapshot, event);
    this.history.push(this.last);
    this.snapshot = persist(this.last.snapshot);
    return this.last;
  }

  get state(): string {
    return this.last.to;
  }
}

/**
 * Answers every requested remediation step in order until the plan leaves `acting`; returns the
 * steps in the order they were requested (the gated removal is listed but never answered).
 */
function remediate(plan: Plan, afterLookup: StepResult): string[] {
  const requested: string[] = afterLookup.actions.map((a) => a.step);
  let pending = afterLookup.actions.filter((a) => a.approvalQuorum === undefined);
  for (let guard = 0; guard < 20 && plan.state === 'acting'; guard++) {
    expect(pending).toHaveLength(1);
    const res = plan.send(ok(pending[0]!.step));
    requested.push(...res.actions.map((a) => a.step));
    pending = res.actions;
  }
  return requested;
}

function lookedUp(severities: unknown, extraLabels: Record<string, string> = {}): { plan: Plan; res: StepResult } {
  const plan = new Plan(input('node-7', extraLabels));
  const res = plan.send(ok('lookup-severity', { severities }));
  return { plan, res };
}

function toVerifying(severity: CharterSeverity = 'SUSPENSION', node = 'node-7'): Plan {
  const plan = new Plan(input(node));
  remediate(plan, plan.send(ok('lookup-severity', { severities: [severity] })));
  expect(plan.state).toBe('verifying');
  return plan;
}

describe('startPlan', () => {
  it('starts by looking up the severity in Prometheus over the pack window', () => {
    const res = startPlan(playbook, input('node-7'));
    expect(res.from).toBe('(start)');
    expect(res.to).toBe('lookingUp');
    expect(res.incidentState).toBe('remediating');
    expect(res.actions).toEqual([
      { step: 'lookup-severity', type: 'prometheus.severity', params: { node_or_service: 'node-7', window: '15m' } },
    ]);
    expect(res.timers).toEqual([]);
    expect(res.expire).toEqual([]);
  });

  it('gives a snapshot that survives a JSON round trip unchanged', () => {
    const res = startPlan(playbook, input());
    const text = JSON.stringify(res.snapshot);
    expect(JSON.stringify(JSON.parse(text))).toBe(text);
    // and a restored snapshot steps exactly like the in-memory one
    const fromMemory = stepPlan(playbook, res.snapshot, ok('lookup-severity', { severities: ['WARNING'] }));
    const fromJson = stepPlan(playbook, JSON.parse(text), ok('lookup-severity', { severities: ['WARNING'] }));
    expect(fromJson.to).toBe(fromMemory.to);
    expect(fromJson.actions).toEqual(fromMemory.actions);
    expect(JSON.stringify(fromJson.snapshot)).toBe(JSON.stringify(fromMemory.snapshot));
  });

  it('ignores answers to other steps while looking up', () => {
    const plan = new Plan();
    const before = JSON.stringify(plan.snapshot);
    for (const ev of [ok('investigate'), failed('quarantine'), timer('verify-check-1'), timer('verify-deadline')]) {
      const res = plan.send(ev);
      expect(res.to).toBe('lookingUp');
      expect(res.actions).toEqual([]);
      expect(res.timers).toEqual([]);
      expect(JSON.stringify(plan.snapshot)).toBe(before);
    }
  });
});

describe('the severity ladder, step by step', () => {
  const cases: Array<[CharterSeverity, string[]]> = [
    ['WARNING', ['investigate', 'notify-committee']],
    ['SUSPENSION', ['investigate', 'quarantine', 'notify-committee']],
    ['BAN_1YEAR', ['escalate-committee', 'remove-node', 'investigate', 'quarantine', 'notify-committee']],
    ['PERMANENT_BAN', ['escalate-committee', 'remove-node', 'investigate', 'quarantine', 'notify-committee']],
    ['CRIMINAL_REFERRAL', ['escalate-committee', 'investigate', 'quarantine', 'notify-committee']],
  ];

  it.each(cases)('%s requests %j, one at a time, then verifies', (severity, expected) => {
    const { plan, res } = lookedUp([severity]);
    expect(res.from).toBe('lookingUp');
    expect(res.to).toBe('acting');
    expect(res.evidence).toMatchObject({ severity, severitySource: 'prometheus', severitiesSeen: [severity] });
    const requested = remediate(plan, res);
    // the gated removal is requested together with the first step; order among the rest is strict
    const sortGate = (steps: string[]) => steps.filter((s) => s !== 'remove-node');
    expect(sortGate(requested)).toEqual(sortGate(expected));
    expect(requested.includes('remove-node')).toBe(expected.includes('remove-node'));
    expect(plan.state).toBe('verifying');
    expect(plan.last.incidentState).toBe('verifying');
    // every step is requested exactly once
    expect(new Set(requested).size).toBe(requested.length);
  });

  it('WARNING opens an investigation and notifies, and never quarantines', () => {
    const { plan, res } = lookedUp(['WARNING']);
    const all: ActionRequest[] = [...res.actions];
    for (let i = 0; i < 5 && plan.state === 'acting'; i++) all.push(...plan.send(ok(all[all.length - 1]!.step)).actions);
    expect(all.map((a) => a.type)).not.toContain('charter.quarantine');
    expect(all.map((a) => a.type)).not.toContain('charter.revocation');
    expect(all[0]).toMatchObject({
      step: 'investigate',
      type: 'charter.investigation',
      params: { node_or_service: 'node-7', initiated_by: 'system', severity: 'WARNING' },
    });
    expect(all[1]).toMatchObject({ step: 'notify-committee', type: 'charter.notification', params: { recipients: ['audit-committee'], node_or_service: 'node-7' } });
  });

  it('SUSPENSION quarantines the node between the investigation and the notification', () => {
    const { plan, res } = lookedUp(['SUSPENSION'], { violation_type: 'data_exfiltration' });
    expect(res.actions).toEqual([
      expect.objectContaining({ step: 'investigate', params: expect.objectContaining({ violation_type: 'data_exfiltration', initiated_by: 'system' }) }),
    ]);
    const q = plan.send(ok('investigate'));
    expect(q.actions).toEqual([
      expect.objectContaining({ step: 'quarantine', type: 'charter.quarantine', params: expect.objectContaining({ node_or_service: 'node-7' }) }),
    ]);
    expect(q.actions[0]!.approvalQuorum).toBeUndefined();
    const n = plan.send(ok('quarantine'));
    expect(n.actions.map((a) => a.step)).toEqual(['notify-committee']);
    const v = plan.send(ok('notify-committee'));
    expect(v.to).toBe('verifying');
  });

  it.each(['BAN_1YEAR', 'PERMANENT_BAN'] as const)('%s escalates first and asks for the gated removal with a deadline', (severity) => {
    const { plan, res } = lookedUp([severity]);
    const removal = res.actions.find((a) => a.step === 'remove-node');
    expect(removal).toEqual({
      step: 'remove-node',
      type: 'charter.revocation',
      params: expect.objectContaining({ node_or_service: 'node-7', scope: 'all' }),
      approvalQuorum: 2,
    });
    const ungated = res.actions.filter((a) => a.approvalQuorum === undefined);
    expect(ungated.map((a) => a.step)).toEqual(['escalate-committee']);
    expect(ungated[0]).toMatchObject({ type: 'charter.notification', params: { severity, node_or_service: 'node-7' } });
    expect(res.timers).toEqual([{ name: 'removal-deadline', delayMs: 1_800_000 }]);
    expect(res.evidence.removal).toBe('awaiting_approval');
    expect(res.guards).toContainEqual({ name: 'isBanSeverity', result: true });
    // the pending removal does not hold up the rest of the ladder
    expect(remediate(plan, res).slice(2)).toEqual(['investigate', 'quarantine', 'notify-committee']);
    expect(plan.state).toBe('verifying');
  });

  it('the removal quorum and deadline come from the settings', () => {
    const plan = new Plan({ ...input(), settings: { ...SETTINGS, removalQuorum: 3, removalApprovalDeadlineMs: 60_000 } });
    const res = plan.send(ok('lookup-severity', { severities: ['PERMANENT_BAN'] }));
    expect(res.actions.find((a) => a.step === 'remove-node')?.approvalQuorum).toBe(3);
    expect(res.timers).toEqual([{ name: 'removal-deadline', delayMs: 60_000 }]);
  });

  it.each(['WARNING', 'SUSPENSION', 'CRIMINAL_REFERRAL'] as const)('%s never asks for a removal or arms its deadline', (severity) => {
    const { plan, res } = lookedUp([severity]);
    const all = [...res.actions];
    const timers = [...res.timers];
    for (let i = 0; i < 6 && plan.state === 'acting'; i++) {
      const r = plan.send(ok(plan.history.at(-1)!.actions.at(-1)!.step));
      all.push(...r.actions);
      timers.push(...r.timers);
    }
    expect(all.some((a) => a.approvalQuorum !== undefined || a.type === 'charter.revocation')).toBe(false);
    expect(timers.map((t) => t.name)).not.toContain('removal-deadline');
  });

  it('CRIMINAL_REFERRAL escalates to the committee at once', () => {
    const { res } = lookedUp(['CRIMINAL_REFERRAL']);
    expect(res.actions).toHaveLength(1);
    expect(res.actions[0]).toMatchObject({ step: 'escalate-committee', type: 'charter.notification', params: { severity: 'CRIMINAL_REFERRAL' } });
  });
});

describe('choosing the severity', () => {
  it('takes the worst severity Prometheus saw, ignoring values that are not Charter severities', () => {
    const { res } = lookedUp(['WARNING', 'bogus', 'PERMANENT_BAN', 'SUSPENSION', 42]);
    expect(res.evidence).toMatchObject({ severity: 'PERMANENT_BAN', severitySource: 'prometheus' });
  });

  it('prefers Prometheus over a milder alert label', () => {
    const { res } = lookedUp(['BAN_1YEAR'], { violation_severity: 'WARNING' });
    expect(res.evidence).toMatchObject({ severity: 'BAN_1YEAR', severitySource: 'prometheus' });
  });

  it('agrees with the alert label: source is Prometheus when both say the same', () => {
    const { res } = lookedUp(['SUSPENSION'], { violation_severity: 'SUSPENSION' });
    expect(res.evidence).toMatchObject({ severity: 'SUSPENSION', severitySource: 'prometheus' });
  });

  it.each([
    ['an empty lookup', []],
    ['a lookup with no severities field', undefined],
    ['a lookup with only unknown values', ['INFO', '']],
  ])("falls back to the alert's violation_severity label after %s", (_what, severities) => {
    const { res } = lookedUp(severities, { violation_severity: 'CRIMINAL_REFERRAL' });
    expect(res.evidence).toMatchObject({ severity: 'CRIMINAL_REFERRAL', severitySource: 'alert' });
    expect(res.actions.map((a) => a.step)).toEqual(['escalate-committee']);
  });

  it('defaults to SUSPENSION (reversible quarantine) when neither Prometheus nor the alert says', () => {
    const { plan, res } = lookedUp([]);
    expect(res.evidence).toMatchObject({ severity: 'SUSPENSION', severitySource: 'default', severitiesSeen: [] });
    expect(remediate(plan, res)).toEqual(['investigate', 'quarantine', 'notify-committee']);
  });

  it('does not take the generic severity=critical label for a Charter severity', () => {
    const { res } = lookedUp([], { severity: 'critical' });
    expect(res.evidence).toMatchObject({ severity: 'SUSPENSION', severitySource: 'default' });
  });

  it('a failed lookup falls back to the alert label', () => {
    const plan = new Plan(input('node-7', { violation_severity: 'BAN_1YEAR' }));
    const res = plan.send(failed('lookup-severity', 'prometheus unreachable'));
    expect(res.to).toBe('acting');
    expect(res.incidentState).toBe('remediating');
    expect(res.evidence).toMatchObject({ severity: 'BAN_1YEAR', severitySource: 'alert', severitiesSeen: [] });
    expect(res.actions.map((a) => a.step).sort()).toEqual(['escalate-committee', 'remove-node']);
  });

  it('a failed lookup with no label falls back to the default, not to escalation', () => {
    const plan = new Plan();
    const res = plan.send(failed('lookup-severity'));
    expect(res.to).toBe('acting');
    expect(res.evidence).toMatchObject({ severity: 'SUSPENSION', severitySource: 'default' });
    expect(res.actions.map((a) => a.step)).toEqual(['investigate']);
  });
});

describe('repeats and stragglers', () => {
  it('a duplicate or out-of-order answer for a step that is not current changes nothing', () => {
    const { plan } = lookedUp(['SUSPENSION']); // current step: investigate
    const strays: PlanEvent[] = [
      ok('lookup-severity', { severities: ['PERMANENT_BAN'] }), // duplicate of the lookup
      ok('quarantine'), // out of order: not asked yet
      ok('notify-committee'),
      failed('quarantine'),
      ok('remove-node'),
      ok('verify-1', { holds: true }),
      timer('verify-check-1'),
      timer('verify-deadline'),
      timer('removal-deadline'),
      { type: 'finding.added', findingId: 'fnd_2', name: 'CriticalViolationDetected', status: 'firing' },
      { type: 'incident.opened', labels: {}, findingId: 'fnd_3' },
    ];
    for (const ev of strays) {
      const before = JSON.stringify(plan.snapshot);
      const res = plan.send(ev);
      expect(res.from).toBe('acting');
      expect(res.to).toBe('acting');
      expect(res.actions).toEqual([]);
      expect(res.timers).toEqual([]);
      expect(res.expire).toEqual([]);
      expect(JSON.stringify(plan.snapshot)).toBe(before);
    }
    // and the current step still moves the plan
    expect(plan.send(ok('investigate')).actions.map((a) => a.step)).toEqual(['quarantine']);
    // a second answer for investigate (a redelivery) is now a straggler
    const before = JSON.stringify(plan.snapshot);
    const dup = plan.send(ok('investigate'));
    expect(dup.actions).toEqual([]);
    expect(JSON.stringify(plan.snapshot)).toBe(before);
    expect(plan.send(ok('quarantine')).actions.map((a) => a.step)).toEqual(['notify-committee']);
  });

  it('late failures of finished steps change nothing once verifying', () => {
    const plan = toVerifying('SUSPENSION');
    for (const ev of [ok('notify-committee'), failed('investigate'), failed('notify-committee'), ok('lookup-severity', { severities: [] })]) {
      const before = JSON.stringify(plan.snapshot);
      const res = plan.send(ev);
      expect(res.to).toBe('verifying');
      expect(res.actions).toEqual([]);
      expect(res.timers).toEqual([]);
      expect(JSON.stringify(plan.snapshot)).toBe(before);
    }
  });
});

describe('a dead remediation step', () => {
  it.each(['investigate', 'quarantine', 'notify-committee'])('%s dead → escalated, and a page is requested', (deadStep) => {
    const { plan } = lookedUp(['SUSPENSION']);
    for (const step of ['investigate', 'quarantine', 'notify-committee']) {
      if (step === deadStep) break;
      plan.send(ok(step));
    }
    const res = plan.send(failed(deadStep, 'HTTP 503 after 5 attempts'));
    expect(res.from).toBe('acting');
    expect(res.to).toBe('escalated');
    expect(res.incidentState).toBe('escalated');
    expect(res.actions).toEqual([
      { step: 'page', type: 'page', params: expect.objectContaining({ node_or_service: 'node-7', severity: 'critical' }) },
    ]);
    expect(String(res.evidence.escalationReason)).toContain(deadStep);
    expect(String(res.evidence.escalationReason)).toContain('HTTP 503 after 5 attempts');
    expect(String((res.actions[0]!.params as { summary: string }).summary)).toContain('node-7');
  });

  it('the escalation of a ban step leaves the removal gate to its own deadline', () => {
    const { plan } = lookedUp(['BAN_1YEAR']);
    const res = plan.send(failed('escalate-committee'));
    expect(res.to).toBe('escalated');
    expect(res.expire).toEqual([]);
    const deadline = plan.send(timer('removal-deadline'));
    expect(deadline.incidentState).toBe('escalated');
    expect(deadline.expire).toEqual([{ step: 'remove-node', reason: expect.any(String) }]);
  });
});

describe('verification', () => {
  it('entering verify arms the first check and the deadline', () => {
    const { plan } = lookedUp(['WARNING']);
    plan.send(ok('investigate'));
    const res = plan.send(ok('notify-committee'));
    expect(res.from).toBe('acting');
    expect(res.to).toBe('verifying');
    expect(res.actions).toEqual([]);
    expect(res.timers).toEqual([
      { name: 'verify-check-1', delayMs: 30_000 },
      { name: 'verify-deadline', delayMs: 300_000 },
    ]);
  });

  it('a due check asks Prometheus whether violations stopped for the node', () => {
    const plan = toVerifying();
    const res = plan.send(timer('verify-check-1'));
    expect(res.to).toBe('verifying');
    expect(res.actions).toHaveLength(1);
    const [verify] = res.actions;
    expect(verify!.step).toBe('verify-1');
    expect(verify!.type).toBe('prometheus.verify');
    expect(verify!.params).toMatchObject({ expect: 'zero' });
    expect(verify!.params.query).toContain('westworld_charter_violations_total{node_or_service="node-7"}');
    expect(verify!.params.query).toContain('[1m]');
  });

  it('holds:false re-arms the next check at the interval, holds:true resolves', () => {
    const plan = toVerifying();
    for (let n = 1; n <= 4; n++) {
      const check = plan.send(timer(`verify-check-${n}`));
      expect(check.actions.map((a) => a.step)).toEqual([`verify-${n}`]);
      const answer = plan.send(ok(`verify-${n}`, { holds: false, value: 3 }));
      expect(answer.to).toBe('verifying');
      expect(answer.actions).toEqual([]);
      expect(answer.timers).toEqual([{ name: `verify-check-${n + 1}`, delayMs: 15_000 }]);
      expect(answer.evidence.lastVerification).toEqual({ holds: false, value: 3 });
    }
    plan.send(timer('verify-check-5'));
    const res = plan.send(ok('verify-5', { holds: true, value: 0 }));
    expect(res.from).toBe('verifying');
    expect(res.to).toBe('resolved');
    expect(res.incidentState).toBe('resolved');
    expect(res.actions).toEqual([]);
    expect(res.timers).toEqual([]);
    expect(res.evidence.lastVerification).toEqual({ holds: true, value: 0 });
    expect(res.guards).toContainEqual({ name: 'verificationHolds', result: true });
  });

  it('passes as soon as the first check holds', () => {
    const plan = toVerifying('WARNING');
    plan.send(timer('verify-check-1'));
    expect(plan.send(ok('verify-1', { holds: true })).to).toBe('resolved');
  });

  it('a failed check (Prometheus unreachable) is not evidence: check again at the interval', () => {
    const plan = toVerifying();
    plan.send(timer('verify-check-1'));
    const res = plan.send(failed('verify-1', 'ECONNREFUSED'));
    expect(res.to).toBe('verifying');
    expect(res.actions).toEqual([]);
    expect(res.timers).toEqual([{ name: 'verify-check-2', delayMs: 15_000 }]);
  });

  it('a result that is not literally holds:true does not resolve', () => {
    const plan = toVerifying();
    plan.send(timer('verify-check-1'));
    for (const result of [{ holds: 'true' }, { holds: 1 }, {}]) {
      expect(plan.send(ok('verify-1', result)).to).toBe('verifying');
    }
  });

  it('the verify deadline escalates and pages', () => {
    const plan = toVerifying();
    plan.send(timer('verify-check-1'));
    plan.send(ok('verify-1', { holds: false }));
    const res = plan.send(timer('verify-deadline'));
    expect(res.from).toBe('verifying');
    expect(res.to).toBe('escalated');
    expect(res.incidentState).toBe('escalated');
    expect(res.actions.map((a) => a.type)).toEqual(['page']);
    expect(res.evidence.escalationReason).toMatch(/deadline/);
    // a late pass does not un-escalate
    const late = plan.send(ok('verify-2', { holds: true }));
    expect(late.to).toBe('escalated');
    expect(late.actions).toEqual([]);
  });

  it('resolved is final for verification events', () => {
    const plan = toVerifying();
    plan.send(timer('verify-check-1'));
    plan.send(ok('verify-1', { holds: true }));
    for (const ev of [timer('verify-deadline'), timer('verify-check-2'), ok('verify-2', { holds: false }), failed('verify-2')]) {
      const before = JSON.stringify(plan.snapshot);
      const res = plan.send(ev);
      expect(res.to).toBe('resolved');
      expect(res.actions).toEqual([]);
      expect(res.timers).toEqual([]);
      expect(JSON.stringify(plan.snapshot)).toBe(before);
    }
  });

  it('escapes the node name inside the PromQL string', () => {
    expect(escapePromQL('a"b\\c\nd')).toBe('a\\"b\\\\c\\nd');
    const plan = toVerifying('SUSPENSION', 'we"ird\\node');
    const res = plan.send(timer('verify-check-1'));
    expect(res.actions[0]!.params.query).toContain('{node_or_service="we\\"ird\\\\node"}');
  });
});

describe('the removal deadline', () => {
  function banResolved(): Plan {
    const plan = toVerifying('PERMANENT_BAN');
    plan.send(timer('verify-check-1'));
    expect(plan.send(ok('verify-1', { holds: true })).to).toBe('resolved');
    return plan;
  }

  it('fires while resolved → escalated, with an expire command for remove-node and a page', () => {
    const plan = banResolved();
    const res = plan.send(timer('removal-deadline'));
    expect(res.from).toBe('resolved');
    expect(res.to).toBe('escalated');
    expect(res.incidentState).toBe('escalated');
    expect(res.expire).toEqual([{ step: 'remove-node', reason: expect.stringMatching(/deadline/) }]);
    expect(res.actions.map((a) => a.step)).toEqual(['page']);
    expect(res.evidence).toMatchObject({ removal: 'expired' });
    expect(res.evidence.escalationReason).toMatch(/removal/);
    // a second delivery does nothing more
    const again = plan.send(timer('removal-deadline'));
    expect(again.to).toBe('escalated');
    expect(again.expire).toEqual([]);
    expect(again.actions).toEqual([]);
  });

  it('counts while remediation is still running', () => {
    const { plan } = lookedUp(['BAN_1YEAR']);
    plan.send(ok('escalate-committee'));
    const res = plan.send(timer('removal-deadline'));
    expect(res.from).toBe('acting');
    expect(res.to).toBe('escalated');
    expect(res.expire.map((e) => e.step)).toEqual(['remove-node']);
  });

  it('counts while verifying', () => {
    const plan = toVerifying('BAN_1YEAR');
    const res = plan.send(timer('removal-deadline'));
    expect(res.to).toBe('escalated');
    expect(res.expire.map((e) => e.step)).toEqual(['remove-node']);
  });

  it('means nothing to a plan that asked for no removal', () => {
    const plan = toVerifying('SUSPENSION');
    plan.send(timer('verify-check-1'));
    plan.send(ok('verify-1', { holds: true }));
    const res = plan.send(timer('removal-deadline'));
    expect(res.to).toBe('resolved');
    expect(res.expire).toEqual([]);
    expect(res.actions).toEqual([]);
  });

  // CHARTER.md: the removal "stays pending until approved, rejected or past its deadline ... without
  // the approvals the incident is escalated". Once the removal was approved and carried out, its
  // deadline passing later must not escalate a resolved incident nor page anyone.
  it('does not escalate once the removal was approved and carried out', () => {
    const plan = toVerifying('PERMANENT_BAN');
    plan.send(ok('remove-node', { id: 'rev-1', status: 'done' }));
    plan.send(timer('verify-check-1'));
    expect(plan.send(ok('verify-1', { holds: true })).to).toBe('resolved');
    const res = plan.send(timer('removal-deadline'));
    expect(res.to).toBe('resolved');
    expect(res.incidentState).toBe('resolved');
    expect(res.actions).toEqual([]);
    expect(res.expire).toEqual([]);
  });
});

describe('whole runs survive persistence', () => {
  it('a ban run, persisted between every step, ends with the same commands as one kept in memory', () => {
    const events: PlanEvent[] = [
      ok('lookup-severity', { severities: ['BAN_1YEAR'] }),
      ok('escalate-committee'),
      ok('investigate'),
      ok('quarantine'),
      ok('notify-committee'),
      timer('verify-check-1'),
      ok('verify-1', { holds: false }),
      timer('verify-check-2'),
      ok('verify-2', { holds: true }),
      timer('removal-deadline'),
    ];
    const persisted = new Plan();
    let memory: unknown = startPlan(playbook, input()).snapshot;
    for (const ev of events) {
      const a = persisted.send(ev);
      const b = stepPlan(playbook, memory, ev);
      memory = b.snapshot;
      expect([a.from, a.to, a.incidentState]).toEqual([b.from, b.to, b.incidentState]);
      expect(a.actions).toEqual(b.actions);
      expect(a.timers).toEqual(b.timers);
      expect(a.expire).toEqual(b.expire);
      expect(a.evidence).toEqual(b.evidence);
    }
    expect(persisted.history.map((r) => r.to)).toEqual([
      'lookingUp', 'acting', 'acting', 'acting', 'acting', 'verifying', 'verifying', 'verifying', 'verifying', 'resolved', 'escalated',
    ]);
  });

  it('every step reports the state it came from as the previous step reported its target', () => {
    const plan = toVerifying('CRIMINAL_REFERRAL');
    plan.send(timer('verify-check-1'));
    plan.send(ok('verify-1', { holds: true }));
    for (let i = 1; i < plan.history.length; i++) expect(plan.history[i]!.from).toBe(plan.history[i - 1]!.to);
  });
});

describe('properties over random event sequences', () => {
  const stepName = fc.constantFrom(
    'lookup-severity',
    'escalate-committee',
    'investigate',
    'quarantine',
    'notify-committee',
    'remove-node',
    'page',
    'verify-0',
    'verify-1',
    'verify-2',
    'verify-3',
    'verify-x',
    'unknown-step',
  );
  const timerName = fc.constantFrom('verify-check-1', 'verify-check-2', 'verify-check-3', 'verify-deadline', 'removal-deadline', 'other-timer');
  const severityList = fc.array(fc.constantFrom<unknown>(...SEVERITIES, 'INFO', '', 7, null), { maxLength: 4 });
  const result = fc.oneof(
    fc.record({ severities: severityList }),
    fc.record({ holds: fc.oneof(fc.boolean(), fc.constant('true'), fc.constant(1)) }),
    fc.constant({}),
    fc.dictionary(fc.string({ maxLength: 5 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 3 }),
  );
  const event: fc.Arbitrary<PlanEvent> = fc.oneof(
    { weight: 5, arbitrary: fc.record({ type: fc.constant('action.succeeded' as const), step: stepName, actionId: fc.string({ maxLength: 6 }), result }) },
    { weight: 2, arbitrary: fc.record({ type: fc.constant('action.failed' as const), step: stepName, actionId: fc.string({ maxLength: 6 }), error: fc.string({ maxLength: 10 }) }) },
    { weight: 3, arbitrary: fc.record({ type: fc.constant('timer.fired' as const), name: timerName }) },
    { weight: 1, arbitrary: fc.record({ type: fc.constant('finding.added' as const), findingId: fc.string({ maxLength: 6 }), name: fc.string({ maxLength: 6 }), status: fc.constantFrom('firing', 'resolved') }) },
    { weight: 1, arbitrary: fc.record({ type: fc.constant('incident.opened' as const), labels: fc.dictionary(fc.string({ maxLength: 4 }), fc.string({ maxLength: 4 }), { maxKeys: 2 }), findingId: fc.string({ maxLength: 6 }) }) },
  );
  const labelSeverity = fc.option(fc.constantFrom<string>(...SEVERITIES, 'critical', ''), { nil: undefined });
  /**
   * A move is either a random event, or a plausible one: the answer to an action the plan asked for
   * (success or failure, holding or not) or the firing of a timer it armed, so that runs reach the
   * deep states (verifying, resolved, escalated) and not only stray events in lookingUp.
   */
  type Move =
    | { kind: 'random'; event: PlanEvent }
    | { kind: 'follow'; pick: number; deadline: boolean; fail: boolean; holds: boolean; severities: unknown[] };
  const rarely = fc.nat(7).map((n) => n === 0);
  const move: fc.Arbitrary<Move> = fc.oneof(
    { weight: 1, arbitrary: event.map((e): Move => ({ kind: 'random', event: e })) },
    {
      weight: 4,
      arbitrary: fc.record({
        kind: fc.constant('follow' as const),
        pick: fc.nat(),
        deadline: rarely,
        fail: rarely,
        holds: fc.boolean(),
        severities: severityList,
      }),
    },
  );
  const isDeadline = (i: { timer?: string }) => i.timer === 'verify-deadline' || i.timer === 'removal-deadline';
  function toEvent(m: Move, outstanding: Array<{ action?: ActionRequest; timer?: string }>): PlanEvent {
    if (m.kind === 'random') return m.event;
    // deadlines fire rarely, as they do: most moves answer an action or fire a check
    let candidates = outstanding.map((item, i) => ({ item, i })).filter(({ item }) => isDeadline(item) === m.deadline);
    if (candidates.length === 0) candidates = outstanding.map((item, i) => ({ item, i }));
    if (candidates.length === 0) return timer('verify-deadline');
    const { i } = candidates[m.pick % candidates.length]!;
    const [item] = outstanding.splice(i, 1);
    if (item!.timer) return timer(item!.timer);
    const step = item!.action!.step;
    if (m.fail && !(step === 'lookup-severity' && m.holds)) return failed(step);
    if (step === 'lookup-severity') return ok(step, { severities: m.severities });
    return ok(step, step.startsWith('verify-') ? { holds: m.holds } : {});
  }

  it('stepPlan never throws, always reports one of the five states, and terminal states only move resolved → escalated', () => {
    const reached = new Set<string>();
    fc.assert(
      fc.property(labelSeverity, fc.array(move, { maxLength: 40 }), (violationSeverity, moves) => {
        const extra: Record<string, string> = violationSeverity === undefined ? {} : { violation_severity: violationSeverity };
        let res = startPlan(playbook, input('node-p', extra));
        let snapshot = persist(res.snapshot);
        expect(INCIDENT_STATES).toContain(res.incidentState);
        const outstanding: Array<{ action?: ActionRequest; timer?: string }> = res.actions.map((a) => ({ action: a }));
        for (const m of moves) {
          const ev = toEvent(m, outstanding);
          const prev = res;
          res = stepPlan(playbook, snapshot, ev);
          snapshot = persist(res.snapshot);
          expect(INCIDENT_STATES).toContain(res.incidentState);
          expect(res.from).toBe(prev.to);
          if (prev.incidentState === 'resolved') {
            expect(['resolved', 'escalated']).toContain(res.incidentState);
            if (res.incidentState === 'escalated') expect(ev).toEqual({ type: 'timer.fired', name: 'removal-deadline' });
          }
          if (prev.incidentState === 'escalated') expect(res.incidentState).toBe('escalated');
          reached.add(res.incidentState);
          outstanding.push(...res.actions.map((a) => ({ action: a })), ...res.timers.map((t) => ({ timer: t.name })));
          // commands are well formed
          for (const a of res.actions) expect(typeof a.step).toBe('string');
          for (const t of res.timers) expect(t.delayMs).toBeGreaterThan(0);
          for (const e of res.expire) expect(e.step).toBe('remove-node');
        }
      }),
      { numRuns: 300 },
    );
    // the runs did explore the whole machine
    expect([...reached].sort()).toEqual(['escalated', 'remediating', 'resolved', 'verifying']);
  });

  it('a remediation step is never requested twice in one plan, and a removal is never requested without its gate', () => {
    fc.assert(
      fc.property(labelSeverity, fc.array(move, { maxLength: 40 }), (violationSeverity, moves) => {
        const plan = new Plan(input('node-q', violationSeverity === undefined ? {} : { violation_severity: violationSeverity }));
        const seen = new Map<string, number>();
        const outstanding: Array<{ action?: ActionRequest; timer?: string }> = [];
        const count = (r: StepResult) => {
          outstanding.push(...r.actions.map((a) => ({ action: a })), ...r.timers.map((t) => ({ timer: t.name })));
          for (const a of r.actions) {
            if (a.step === 'remove-node') expect(a.approvalQuorum).toBe(2);
            if (a.type === 'charter.revocation') expect(a.approvalQuorum).toBeGreaterThanOrEqual(1);
            if (!a.step.startsWith('verify-') && a.step !== 'page') seen.set(a.step, (seen.get(a.step) ?? 0) + 1);
          }
        };
        count(plan.last);
        for (const m of moves) count(plan.send(toEvent(m, outstanding)));
        for (const [, n] of seen) expect(n).toBe(1);
      }),
      { numRuns: 200 },
    );
  });
});

describe('the event union is locked at compile time', () => {
  it('accepts exactly the nine event types', () => {
    expectTypeOf<PlanEvent['type']>().toEqualTypeOf<'incident.opened' | 'finding.added' | 'action.succeeded' | 'action.failed' | 'timer.fired' | 'approval.granted' | 'approval.rejected' | 'incident.acknowledged' | 'finding.resolved'>();
    const plan = new Plan();
    // @ts-expect-error 'action.retried' is not a plan event
    const bogus: PlanEvent = { type: 'action.retried', step: 'investigate', actionId: 'a' };
    // @ts-expect-error a timer event must name its timer
    const nameless: PlanEvent = { type: 'timer.fired' };
    // never called: only the compiler looks at this
    const _typeOnly = () => {
      // @ts-expect-error an action outcome must carry its result
      stepPlan(playbook, plan.snapshot, { type: 'action.succeeded', step: 'lookup-severity', actionId: 'a' });
      // @ts-expect-error a failure must say what failed
      stepPlan(playbook, plan.snapshot, { type: 'action.failed', step: 'lookup-severity', actionId: 'a' });
    };
    // at run time such events change nothing either
    const before = JSON.stringify(plan.snapshot);
    expect(plan.send(bogus).actions).toEqual([]);
    expect(plan.send(nameless).to).toBe('lookingUp');
    expect(JSON.stringify(plan.snapshot)).toBe(before);
  });
});

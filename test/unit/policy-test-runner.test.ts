// The pure policy-test runner: a fake clock, the real routing and the real playbooks. It must pass
// the shipped pack's tests, fail a test whose expectation is wrong (with a readable difference),
// show a policy change, and refuse malformed tests with the file and the field named.
import { stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { SHIPPED_TESTS, runPolicyTestDir, testFiles } from '../../src/cli/policy-test.ts';
import { loadPack, type Pack } from '../../src/config.ts';
import { READ_ONLY } from '../../src/execute/actuators/index.ts';
import {
  checkExpectations,
  evaluatePolicyTest,
  matchesSubset,
  offset,
  parseOffset,
  parsePolicyTest,
  PolicyTestError,
  runScenario,
  type PolicyTest,
} from '../../src/plan/policy-test.ts';

const options = { readOnly: READ_ONLY };
const packFor = (overrides?: Record<string, unknown>): Pack => loadPack(undefined, false, overrides);
const test = (doc: Record<string, unknown>): PolicyTest => parsePolicyTest(stringify(doc), 'inline.yaml');

const cv = (node = 'node-7', extra: Record<string, unknown> = {}) => ({
  at: '0s',
  labels: { alertname: 'CriticalViolationDetected', node_or_service: node, severity: 'critical' },
  ...extra,
});
const severity = (...severities: string[]) => ({ step: 'lookup-severity', result: { severities } });

/** A SUSPENSION run, with optional extra `given` and `expect`. */
function suspension(given: Record<string, unknown> = {}, expectations: Record<string, unknown> = { state: 'resolved' }): PolicyTest {
  return test({ name: 'suspension', given: { alerts: [cv()], outcomes: [severity('SUSPENSION')], ...given }, expect: expectations });
}

describe('the shipped Charter pack tests', () => {
  it('all pass against the shipped pack', () => {
    const results = runPolicyTestDir(SHIPPED_TESTS);
    const failed = results.filter((r) => !r.ok).map((r) => `${r.file}: ${r.failures.join('; ')}`);
    expect(failed).toEqual([]);
    expect(results.length).toBeGreaterThanOrEqual(15);
  });

  it('cover every rung of the severity ladder and the governance cases the issue names', () => {
    const names = testFiles(SHIPPED_TESTS).map((f) => f.replace(/^.*\//, ''));
    for (const f of [
      'warning.yaml',
      'suspension.yaml',
      'ban-1year-approved.yaml',
      'permanent-ban-approved.yaml',
      'permanent-ban-rejected.yaml',
      'permanent-ban-deadline.yaml',
      'criminal-referral.yaml',
      'verification-late.yaml',
      'verification-fails.yaml',
      'dead-action.yaml',
      'flap-guard.yaml',
      'alert-resend-one-incident.yaml',
    ]) {
      expect(names).toContain(f);
    }
  });
});

describe('the runner can fail', () => {
  it('fails a test whose expected actions are wrong, saying where and what ran', () => {
    const wrong = suspension({}, { actions: [{ step: 'lookup-severity' }, { step: 'investigate' }, { step: 'notify-committee' }], state: 'resolved' });
    const res = evaluatePolicyTest(wrong, packFor, options);
    expect(res.ok).toBe(false);
    expect(res.failures).toContain('actions[3]: step quarantine, expected notify-committee');
    expect(res.failures.some((f) => f.startsWith('actions[4]: not expected: notify-committee'))).toBe(true);
    expect(res.failures.at(-1)).toBe('actions were: lookup-severity[succeeded], investigate[succeeded], quarantine[succeeded], notify-committee[succeeded], verify-1[succeeded]');
  });

  it('fails on a wrong final state, a wrong param, a wrong time and a wrong transition list', () => {
    const wrong = suspension(
      {},
      {
        state: 'escalated',
        actions: [
          { step: 'lookup-severity', params: { window: '5m' } },
          { step: 'investigate' },
          { step: 'quarantine' },
          { step: 'notify-committee' },
          { step: 'verify-1', at: '15s' },
        ],
        transitions: ['(start) -> lookingUp', 'lookingUp -> resolved'],
      },
    );
    const res = evaluatePolicyTest(wrong, packFor, options);
    expect(res.ok).toBe(false);
    expect(res.failures.join('\n')).toMatch(/incident state resolved, expected escalated/);
    expect(res.failures.join('\n')).toMatch(/actions\[1\]: params .* do not include \{"window":"5m"\}/);
    expect(res.failures.join('\n')).toMatch(/actions\[5\]: asked at 30s, expected 15s/);
    expect(res.failures.join('\n')).toMatch(/incident transitions\[2\]: expected lookingUp -> resolved, got lookingUp -> acting on action.succeeded/);
  });

  it('fails when fewer incidents opened than expected', () => {
    const res = evaluatePolicyTest(suspension({}, { incidents: 2 }), packFor, options);
    expect(res.failures).toEqual(['incidents: 1 opened, expected 2']);
  });

  it('reports an error of the scenario as a failure, not a crash', () => {
    const bad = test({ name: 'bad sensor', given: { samples: [{ at: '0s', sensor: 'no_such_sensor', subject: {}, value: 1 }] }, expect: { incidents: 0 } });
    const res = evaluatePolicyTest(bad, packFor, options);
    expect(res.ok).toBe(false);
    expect(res.failures[0]).toMatch(/^error: .*no sensor no_such_sensor/);
  });
});

describe('a policy change shows in the result', () => {
  const ban = (overrides?: Record<string, unknown>) =>
    test({
      name: 'ban',
      ...(overrides ? { pack: overrides } : {}),
      given: { alerts: [cv()], outcomes: [severity('BAN_1YEAR')], approvals: [{ at: '5m', step: 'remove-node', by: 'alice' }] },
      expect: { state: 'resolved', evidence: { removal: 'done' } },
    });

  it('one approval is not a quorum under the shipped pack', () => {
    const res = evaluatePolicyTest(ban(), packFor, options);
    expect(res.ok).toBe(false);
    expect(res.run!.incidents[0]!.state).toBe('escalated');
    expect(res.run!.actions.find((a) => a.step === 'remove-node')!.status).toBe('skipped');
  });

  it('is one under a policy with removalQuorum 1 (the test`s own pack settings)', () => {
    const res = evaluatePolicyTest(ban({ playbooks: { criticalViolation: { removalQuorum: 1 } } }), packFor, options);
    expect(res.failures).toEqual([]);
    expect(res.run!.actions.find((a) => a.step === 'remove-node')).toMatchObject({ status: 'succeeded', approvalQuorum: 1, finishedAt: 300_000 });
  });

  it('timings come from the pack: an earlier first check and a shorter deadline', () => {
    const pack = packFor({ playbooks: { criticalViolation: { verifyFirstCheck: '10s', verifyInterval: '5s', verifyDeadline: '1m' } } });
    const run = runScenario(suspension({ outcomes: [severity('SUSPENSION'), { type: 'prometheus.verify', result: { holds: false } }] }), pack, options);
    const verifies = run.actions.filter((a) => a.type === 'prometheus.verify').map((a) => offset(a.requestedAt));
    expect(verifies).toEqual(['10s', '15s', '20s', '25s', '30s', '35s', '40s', '45s', '50s', '55s']);
    expect(run.incidents[0]!.state).toBe('escalated');
    expect(run.actions.at(-1)).toMatchObject({ step: 'page', requestedAt: 60_000 });
  });

  it('the routes come from the pack: an alert the pack does not route opens nothing', () => {
    const res = evaluatePolicyTest(
      suspension({}, { incidents: 0, actions: [] }),
      () => packFor({ playbooks: { criticalViolation: { alertnames: ['SomethingElse'] } } }),
      options,
    );
    expect(res.failures).toEqual([]);
    expect(res.run!.log.join('\n')).toMatch(/no playbook handles alert CriticalViolationDetected/);
  });

  it('the flap guard limit comes from the pack', () => {
    const alerts = ['0s', '1h', '2h'].map((at) => ({ ...cv('node-9'), at }));
    const strict = runScenario(test({ name: 'flap', given: { alerts, outcomes: [severity('SUSPENSION')] }, expect: { incidents: 3 } }), packFor({ flapGuard: { max: 2, window: '6h' } }), options);
    expect(strict.incidents.map((i) => i.state)).toEqual(['resolved', 'resolved', 'escalated']);
    const shipped = runScenario(test({ name: 'flap', given: { alerts, outcomes: [severity('SUSPENSION')] }, expect: { incidents: 3 } }), packFor(), options);
    expect(shipped.incidents.map((i) => i.state)).toEqual(['resolved', 'resolved', 'resolved']);
  });
});

describe('the fake clock', () => {
  it('fires due timers in time order and answers actions when the scenario says', () => {
    const run = runScenario(
      suspension({ outcomes: [severity('SUSPENSION'), { step: 'quarantine', after: '1m' }, { type: 'prometheus.verify', until: '2m', result: { holds: false } }] }),
      packFor(),
      options,
    );
    const times = run.actions.map((a) => `${a.step}@${offset(a.requestedAt)}`);
    expect(times).toEqual([
      'lookup-severity@0s',
      'investigate@0s',
      'quarantine@0s',
      'notify-committee@1m',
      'verify-1@1m30s',
      'verify-2@1m45s',
      'verify-3@2m',
    ]);
    // steps are in time order, and the verification deadline (armed at 1m) still fires after resolution
    const steps = run.incidents[0]!.steps;
    for (let i = 1; i < steps.length; i++) expect(steps[i]!.at).toBeGreaterThanOrEqual(steps[i - 1]!.at);
    expect(steps.at(-1)).toMatchObject({ at: 360_000, from: 'resolved', to: 'resolved', event: { type: 'timer.fired', name: 'verify-deadline' } });
  });

  it('stops at `until`, leaving what is due later undone', () => {
    const run = runScenario(test({ name: 'until', until: '20s', given: { alerts: [cv()], outcomes: [severity('SUSPENSION')] }, expect: { state: 'verifying' } }), packFor(), options);
    expect(run.incidents[0]!.state).toBe('verifying');
    expect(run.actions.map((a) => a.step)).not.toContain('verify-1');
    expect(run.end).toBe(20_000);
  });

  it('is deterministic', () => {
    const t = suspension({ approvals: [{ at: '1m', step: 'nothing', by: 'x' }] });
    expect(runScenario(t, packFor(), options).log).toEqual(runScenario(t, packFor(), options).log);
  });

  it('parses compound offsets and prints them back', () => {
    expect(parseOffset('1m30s')).toBe(90_000);
    expect(parseOffset('2h15m')).toBe(8_100_000);
    expect(parseOffset('250ms')).toBe(250);
    expect(offset(90_000)).toBe('1m30s');
    expect(offset(0)).toBe('0s');
    expect(() => parseOffset('soon')).toThrow();
  });

  it('an absolute start and ISO times work as well as offsets', () => {
    const t = test({
      name: 'iso',
      start: '2031-06-01T12:00:00Z',
      given: { alerts: [{ ...cv(), at: '2031-06-01T12:01:00Z' }], outcomes: [severity('SUSPENSION')] },
      expect: { actions: [{ step: 'lookup-severity', at: '1m' }, { step: 'investigate' }, { step: 'quarantine' }, { step: 'notify-committee' }, { step: 'verify-1', at: '2031-06-01T12:01:30Z' }] },
    });
    expect(evaluatePolicyTest(t, packFor, options).failures).toEqual([]);
  });
});

describe('the world the runner simulates, as knowledge and execute behave', () => {
  it('a resolved alert tells the plan its finding resolved', () => {
    const run = runScenario(suspension({ alerts: [cv(), { ...cv(), at: '10s', status: 'resolved', startsAt: '0s' }] }), packFor(), options);
    const events = run.incidents[0]!.steps.map((s) => s.event.type);
    expect(events).toContain('finding.resolved');
  });

  it('the trust model: members only, each once, never the requester', () => {
    const run = runScenario(
      test({
        name: 'quorum',
        pack: { committee: { members: ['alice', 'bob'] } },
        given: {
          alerts: [cv()],
          outcomes: [severity('PERMANENT_BAN')],
          approvals: [
            { at: '1m', step: 'remove-node', by: 'alice' },
            { at: '2m', step: 'remove-node', by: 'alice' },
            { at: '3m', step: 'remove-node', by: 'eve' },
            { at: '4m', step: 'remove-node', by: 'mapek' },
            { at: '5m', step: 'remove-node', by: '  ' },
            { at: '6m', step: 'no-such-step', by: 'bob' },
          ],
        },
        expect: { state: 'escalated' },
      }),
      packFor({ committee: { members: ['alice', 'bob'] } }),
      options,
    );
    expect(run.refused.map((r) => r.reason)).toEqual([
      'alice has already decided on action inc-1/remove-node',
      'eve is not a committee member',
      'mapek is not a committee member',
      'a member name is required',
      'no action no-such-step',
    ]);
    expect(run.actions.find((a) => a.step === 'remove-node')).toMatchObject({ status: 'skipped', outcome: { expired: expect.stringMatching(/deadline/) } });
    // With no committee named (the shipped pack) any name counts, except the requester's.
    const open = runScenario(
      test({ name: 'open', given: { alerts: [cv()], outcomes: [severity('BAN_1YEAR')], approvals: [{ at: '1m', step: 'remove-node', by: 'mapek' }] }, expect: { state: 'escalated' } }),
      packFor(),
      options,
    );
    expect(open.refused.map((r) => r.reason)).toEqual(['mapek asked for this action and cannot approve it']);
  });

  it('dry run and shadow record Charter calls as skipped, and reads still run', () => {
    for (const mode of [{ dryRun: true }, { autonomy: 'shadow' }]) {
      const run = runScenario(suspension(), packFor(mode), options);
      expect(run.actions.map((a) => `${a.step}:${a.status}`)).toEqual([
        'lookup-severity:succeeded',
        'investigate:skipped',
        'quarantine:skipped',
        'notify-committee:skipped',
        'verify-1:succeeded',
      ]);
      expect(run.actions[2]!.outcome).toMatchObject({ wouldCall: 'charter.quarantine' });
    }
  });

  it('propose: every action that changes the world waits for one approval', () => {
    const run = runScenario(suspension(), packFor({ autonomy: 'propose' }), options);
    expect(run.actions.map((a) => `${a.step}:${a.status}`)).toEqual(['lookup-severity:succeeded', 'investigate:awaiting_approval']);
    expect(run.actions[1]!.outcome).toEqual({ held: 'autonomy is propose' });
  });

  it('budgets count this run`s effects too', () => {
    const alerts = ['a', 'b', 'c'].map((n) => cv(`node-${n}`));
    const run = runScenario(test({ name: 'budget', given: { alerts, outcomes: [severity('SUSPENSION')] }, expect: { incidents: 3 } }), packFor({ budgets: [{ actionType: 'charter.quarantine', max: 2, per: '1h' }] }), options);
    expect(run.incidents.map((i) => i.state)).toEqual(['resolved', 'resolved', 'escalated']);
    expect(run.actions.filter((a) => a.step === 'quarantine').map((a) => a.status)).toEqual(['succeeded', 'succeeded', 'dead']);
  });

  it('a finding right after its incident closed joins it (reopenCooldown), later ones open a new incident', () => {
    const alerts = [cv('node-1'), { ...cv('node-1'), at: '5m' }, { ...cv('node-1'), at: '1h' }];
    const run = runScenario(test({ name: 'cooldown', given: { alerts, outcomes: [severity('SUSPENSION')] }, expect: { incidents: 2 } }), packFor(), options);
    expect(run.incidents).toHaveLength(2);
    expect(run.incidents[0]!.steps.map((s) => s.event.type)).toContain('finding.added');
  });
});

describe('reading a test', () => {
  it('names the file and the field of a mistake', () => {
    const bad = (doc: unknown) => () => parsePolicyTest(stringify(doc), 'x.yaml');
    const base = { name: 'n', given: { alerts: [cv()] }, expect: { state: 'resolved' } };
    expect(bad({ ...base, expect: { stat: 'resolved' } })).toThrow(/^x\.yaml: expect: Unrecognized key: "stat"/);
    expect(bad({ ...base, given: { alerts: [{ ...cv(), at: 'soon' }] } })).toThrow(/x\.yaml: given\.alerts\.0\.at: expected a time/);
    expect(bad({ ...base, given: { alerts: [cv()], outcomes: [{ step: 'q', result: {}, fail: 'x' }] } })).toThrow(/either result or fail/);
    expect(bad({ ...base, given: {} })).toThrow(/at least one alert or sensor sample/);
    expect(bad({ ...base, expect: { state: 'done' } })).toThrow(/expect\.state/);
    expect(bad({ ...base, expect: { transitions: ['a to b'] } })).toThrow(/from -> to/);
    expect(() => parsePolicyTest('name: [', 'y.yaml')).toThrow(PolicyTestError);
  });

  it('checkExpectations with nothing wrong says nothing', () => {
    const t = suspension();
    expect(checkExpectations(t, runScenario(t, packFor(), options))).toEqual([]);
  });

  it('matches params as a subset: objects key by key, arrays whole', () => {
    expect(matchesSubset({ a: 1, b: { c: 2, d: 3 } }, { b: { c: 2 } })).toBe(true);
    expect(matchesSubset({ a: [1, 2] }, { a: [1] })).toBe(false);
    expect(matchesSubset({ a: [{ x: 1, y: 2 }] }, { a: [{ x: 1 }] })).toBe(true);
    expect(matchesSubset({ a: '1' }, { a: 1 })).toBe(false);
  });
});

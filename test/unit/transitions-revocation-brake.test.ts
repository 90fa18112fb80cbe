// Both declared transitions of the revocation-brake machine, asserted from the plan's start (see
// transitions-critical-violation.test.ts): page, then escalated whatever the pager answered.
import { expect, it } from 'vitest';
import { startPlan } from '../../src/plan/step.ts';
import type { ActionRequest } from '../../src/plan/types.ts';
import { failed, ok, planInput, playbookOf, transitionSuite, type Case } from './transitions-helpers.ts';

const playbook = playbookOf('revocation-brake');
const ALERT = 'UnusualDataRevocationActivity';
const paging = (severity = 'warning') => JSON.parse(JSON.stringify(startPlan(playbook, planInput(playbook, { alertname: ALERT, severity })).snapshot)) as unknown;

const page = (severity: string): ActionRequest => ({
  step: 'page',
  type: 'page',
  params: {
    summary: `${ALERT}: more than 1 data revocation per minute, sustained. The safety brake is engaged: every Charter call mapek makes waits for one approval until a person releases it (mapek brake release).`,
    severity,
  },
});

const cases: Case[] = [
  {
    name: 'paged: a person has it',
    claim: { from: 'paging', event: 'action.succeeded', guard: 'isPageAnswer', to: 'escalated' },
    source: () => ({ snapshot: paging(), event: ok('page', { id: 'pd-1' }) }),
    expect: { state: 'escalated', incidentState: 'escalated' },
  },
  {
    name: 'the page failed: escalated all the same (the brake holds)',
    claim: { from: 'paging', event: 'action.failed', guard: 'isPageAnswer', to: 'escalated' },
    source: () => ({ snapshot: paging('critical'), event: failed('page', 'PagerDuty unreachable') }),
    expect: { state: 'escalated', incidentState: 'escalated' },
  },
];

transitionSuite(playbook, cases);

it('the plan starts by paging, critical only for a critical alert (the state it pages from)', () => {
  for (const [severity, want] of [['warning', 'warning'], ['critical', 'critical'], ['info', 'warning']] as const) {
    const start = startPlan(playbook, planInput(playbook, { alertname: ALERT, severity }));
    expect([start.to, start.incidentState]).toEqual(['paging', 'remediating']);
    expect([start.actions, start.timers, start.expire]).toEqual([[page(want)], [], []]);
  }
});

// Every declared transition of the policy-load-failure machine (the remediate-verify family, two
// attempts), asserted one at a time (see transitions-critical-violation.test.ts), with the exact
// commands the shipped pack makes it send. Its one step is not optional: acting --action.failed
// [and(isCurrentStepFailed, isOptionalStep)]--> acting is unreachable (a finding).
import { planInput, playbookOf, remediateVerifySuite, type Escalate } from './transitions-helpers.ts';

const playbook = playbookOf('policy-load-failure');
const LABELS = { alertname: 'PolicyLoadFailure', severity: 'critical' };
const reload = { step: 'reload-policy', type: 'charter.policy_reload', params: { reason: 'mapek: PolicyLoadFailure' } } as const;

const escalate: Escalate = (reason) => ({ step: 'page', type: 'page', params: { summary: `PolicyLoadFailure: the Charter policy did not load: ${reason}`, severity: 'critical' } });

remediateVerifySuite({
  playbook,
  input: (recentIncidents = 0) => planInput(playbook, LABELS, { recentIncidents }),
  subject: 'the Charter policy',
  flapWindow: '6h',
  steps: [{ ...reload, params: { ...reload.params } }],
  retry: [{ ...reload, params: { ...reload.params }, iteration: 2 }],
  verify: {
    query: '(time() - max(westworld_charter_policy_last_load_timestamp)) < bool 300',
    expect: 'positive',
    firstCheckMs: 15_000,
    intervalMs: 15_000,
    deadlineMs: 120_000,
  },
  escalate,
});

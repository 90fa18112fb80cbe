// Every declared transition of the committee-overloaded machine (the fanout-verify family),
// asserted one at a time from a snapshot reached by the shortest event path (see
// transitions-critical-violation.test.ts), with the exact commands the shipped pack makes it send.
// Its input reports nothing after acting (after: []): reporting --action.succeeded/failed
// [isCurrentNotification]--> reporting are unreachable (findings).
import { fanoutVerifySuite, planInput, playbookOf } from './transitions-helpers.ts';

const playbook = playbookOf('committee-overloaded');
const LABELS = { alertname: 'CommitteeOverloaded', severity: 'warning' };
const HOLD = { by: 'mapek', reason: 'CommitteeOverloaded: non-critical investigation held while the committee is overloaded' };

fanoutVerifySuite({
  playbook,
  input: () => planInput(playbook, LABELS),
  before: [
    {
      step: 'notify-chair',
      type: 'charter.notification',
      params: {
        severity: 'WARNING',
        summary: 'CommitteeOverloaded: more than 10 violations under investigation; mapek holds non-critical (WARNING, SUSPENSION) investigations',
        recipients: ['committee-chair'],
      },
    },
  ],
  read: { step: 'read', type: 'charter.read', params: { path: '/api/investigations?status=open' } },
  items: [
    { id: 'inv-1', severity: 'WARNING', status: 'open' },
    // Critical: stays open.
    { id: 'inv-2', severity: 'PERMANENT_BAN', status: 'open' },
    { id: 'inv-3', severity: 'SUSPENSION', status: 'open' },
  ],
  targets: [
    { step: 'hold-inv-1', type: 'charter.investigation_hold', params: { ...HOLD, id: 'inv-1' } },
    { step: 'hold-inv-3', type: 'charter.investigation_hold', params: { ...HOLD, id: 'inv-3' } },
  ],
  after: () => [],
  verify: { query: 'sum(westworld_charter_violations_under_investigation) <= bool 10', expect: 'positive', firstCheckMs: 60_000, intervalMs: 30_000, deadlineMs: 900_000 },
  escalate: (reason) => ({ step: 'page', type: 'page', params: { summary: `CommitteeOverloaded persists: ${reason}`, severity: 'warning' } }),
});

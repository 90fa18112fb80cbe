// Every declared transition of the policy-load-frequency machine (the notify-watch family),
// asserted one at a time from a snapshot reached by the shortest event path (see
// transitions-critical-violation.test.ts), with the exact commands the shipped pack makes it send.
import { notifyWatchSuite, planInput, playbookOf } from './transitions-helpers.ts';

const playbook = playbookOf('policy-load-frequency');
const LABELS = { alertname: 'PolicyLoadFrequencyAnomaly', severity: 'warning' };

notifyWatchSuite({
  playbook,
  input: () => planInput(playbook, LABELS),
  finding: 'PolicyLoadFrequencyAnomaly',
  notification: {
    step: 'notify-sre',
    type: 'slack.message',
    params: { channel: '#charter-sre', text: 'PolicyLoadFrequencyAnomaly: the Charter policy loaded more than 10 times in an hour; mapek holds its own policy reloads for 1h.' },
  },
  watchMs: 3_600_000,
  check: { step: 'check', type: 'prometheus.verify', params: { query: 'sum(increase(westworld_charter_policy_load_duration_ms_count[1h])) <= bool 10', expect: 'positive' } },
  escalate: (reason) => ({ step: 'page', type: 'page', params: { summary: `PolicyLoadFrequencyAnomaly persists: ${reason}`, severity: 'warning' } }),
});

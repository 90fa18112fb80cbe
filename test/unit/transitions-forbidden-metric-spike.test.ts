// Every declared transition of the forbidden-metric-spike machine (the remediate-verify family),
// asserted one at a time from a snapshot reached by the shortest event path (see
// transitions-critical-violation.test.ts), with the exact commands the shipped pack makes it send.
// maxAttempts is fixed at 1 by its input: retrying --canRetry--> acting is unreachable (a finding).
import { planInput, playbookOf, remediateVerifySuite, type Escalate } from './transitions-helpers.ts';

const playbook = playbookOf('forbidden-metric-spike');
const NODE = 'node-3';
const METRIC = 'ssn_hash';
const LABELS = { alertname: 'ForbiddenMetricSpike', node_or_service: NODE, metric_name: METRIC, severity: 'warning' };
const WHAT = `${METRIC} of ${NODE}`;
const QUERY = `sum(increase(westworld_charter_forbidden_metric_attempts_total{node_or_service="${NODE}",metric_name="${METRIC}"}[1m]))`;

const escalate: Escalate = (reason) => ({
  step: 'page',
  type: 'page',
  params: { summary: `ForbiddenMetricSpike at ${WHAT} escalated: ${reason}`, severity: 'warning', node_or_service: NODE, metric_name: METRIC },
});

remediateVerifySuite({
  playbook,
  input: (recentIncidents = 0) => planInput(playbook, LABELS, { subject: { node_or_service: NODE, metric_name: METRIC }, recentIncidents }),
  subject: WHAT,
  flapWindow: '6h',
  steps: [
    {
      step: 'quarantine',
      type: 'charter.quarantine',
      params: { node_or_service: NODE, metric_name: METRIC, reason: `ForbiddenMetricSpike: forbidden collection attempts at ${WHAT}` },
    },
    {
      step: 'notify-security',
      type: 'slack.message',
      params: { channel: '#charter-security', text: `ForbiddenMetricSpike: quarantined ${WHAT} after more than 3 forbidden attempts in 1 min; verifying the attempts stop.` },
    },
  ],
  optional: 1,
  verify: { query: QUERY, expect: 'zero', firstCheckMs: 30_000, intervalMs: 15_000, deadlineMs: 300_000 },
  escalate,
});

// Every declared transition of the validation-latency-sla machine (the notify-watch family),
// asserted one at a time from a snapshot reached by the shortest event path (see
// transitions-critical-violation.test.ts), with the exact commands the shipped pack makes it send.
import { notifyWatchSuite, planInput, playbookOf } from './transitions-helpers.ts';

const playbook = playbookOf('validation-latency-sla');
const LABELS = { alertname: 'ValidationLatencySLAViolation', severity: 'warning' };

notifyWatchSuite({
  playbook,
  input: () => planInput(playbook, LABELS),
  finding: 'ValidationLatencySLAViolation',
  notification: {
    step: 'notify-sre',
    type: 'slack.message',
    params: { channel: '#charter-sre', text: 'ValidationLatencySLAViolation: p99 metric validation latency above the 20 µs SLA; paging if it lasts 30m.' },
  },
  watchMs: 1_800_000,
  check: {
    step: 'check',
    type: 'prometheus.verify',
    params: { query: 'histogram_quantile(0.99, sum by (le) (rate(westworld_charter_metric_validation_latency_ns_bucket[5m]))) <= bool 20000', expect: 'positive' },
  },
  escalate: (reason) => ({ step: 'page', type: 'page', params: { summary: `ValidationLatencySLAViolation lasted 30m: ${reason}`, severity: 'warning' } }),
});

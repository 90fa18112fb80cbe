// Every declared transition of the data-revocation-sla machine (the fanout-verify family), asserted
// one at a time from a snapshot reached by the shortest event path (see
// transitions-critical-violation.test.ts), with the exact commands the shipped pack makes it send.
// Its input sends nothing before reading (before: []): notifying --action.succeeded/failed
// [isCurrentNotification]--> notifying are unreachable (findings).
import { fanoutVerifySuite, planInput, playbookOf } from './transitions-helpers.ts';

const playbook = playbookOf('data-revocation-sla');
const LABELS = { alertname: 'DataRevocationSLAViolation', severity: 'warning' };
const M = 'westworld_charter_data_revocation_latency_ms';

fanoutVerifySuite({
  playbook,
  input: () => planInput(playbook, LABELS),
  before: [],
  read: { step: 'read', type: 'charter.read', params: { path: '/api/revocations?status=pending' } },
  items: [
    { id: 'rev-1', node_or_service: 'node-1', reason: 'consent withdrawn', scope: 'metrics', status: 'pending' },
    { id: 'rev-2', node_or_service: 'node-2', reason: 'retention expired', scope: 'logs', status: 'pending' },
    // A removal waits for the committee: never re-issued by mapek.
    { id: 'rev-3', node_or_service: 'node-3', reason: 'PERMANENT_BAN violation', scope: 'all', status: 'pending' },
  ],
  targets: [
    { step: 'retry-rev-1', type: 'charter.revocation', params: { node_or_service: 'node-1', reason: 'consent withdrawn', scope: 'metrics', retry_of: 'rev-1' } },
    { step: 'retry-rev-2', type: 'charter.revocation', params: { node_or_service: 'node-2', reason: 'retention expired', scope: 'logs', retry_of: 'rev-2' } },
  ],
  after: (acted, failed) => [
    {
      step: 'report-sre',
      type: 'slack.message',
      params: { channel: '#charter-sre', text: `DataRevocationSLAViolation: retried ${acted} pending revocation(s) (${failed} failed); 1 left for people (removals or over the limit).` },
    },
  ],
  verify: {
    query: `(sum(increase(${M}_bucket{le=~"5000(\\\\.0)?"}[5m])) / sum(increase(${M}_count[5m]))) >= bool 0.99`,
    expect: 'positive',
    firstCheckMs: 60_000,
    intervalMs: 30_000,
    deadlineMs: 900_000,
  },
  escalate: (reason) => ({
    step: 'escalate-sre',
    type: 'slack.message',
    params: { channel: '#charter-sre', text: `ESCALATION DataRevocationSLAViolation: data revocations still slower than the 5 s SLA: ${reason}` },
  }),
});

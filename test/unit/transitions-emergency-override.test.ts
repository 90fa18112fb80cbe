// Every declared transition of the emergency-override machine, each guard branch on its own,
// asserted one at a time from a snapshot reached by the shortest event path (see
// transitions-critical-violation.test.ts), with the exact commands the shipped pack makes it send.
import type { EmergencyOverrideContext } from '../../src/plan/playbooks/emergency-override/machine.ts';
import type { ActionRequest, PlanEvent } from '../../src/plan/types.ts';
import { acked, at, failed, findingResolved, ok, planInput, playbookOf, rejected, timer, transitionSuite, type Case } from './transitions-helpers.ts';

const playbook = playbookOf('emergency-override');
const ALERT = 'EmergencyOverrideStayingActive';
const input = () => planInput(playbook, { alertname: ALERT, severity: 'critical' });

const override = (id: string, extensions = 0) => ({ id, status: 'active', reason: 'incident response', extensions: Array.from({ length: extensions }, (_, i) => ({ at: `2030-01-01T00:${10 + i}:00Z` })) });
const TWO = [override('ov-1'), override('ov-2')];
const readOk = (items: unknown[]) => ok('read-overrides', { count: items.length, items });
const rereadOk = (items: unknown[]) => ok('reread-overrides', { count: items.length, items });

type Snap = { value: unknown; context: EmergencyOverrideContext };

/** Every event a plan could hear: both reads' answers, acknowledgements, its timers, the revocations' outcomes. */
const events = (): PlanEvent[] => [
  readOk(TWO),
  readOk([]),
  failed('read-overrides'),
  acked(),
  findingResolved(ALERT),
  timer('ack-deadline'),
  rereadOk(TWO),
  rereadOk([override('ov-1', 1), override('ov-2', 1)]),
  failed('reread-overrides'),
  ...['revoke-ov-1', 'revoke-ov-2'].flatMap((s) => [ok(s), failed(s), rejected(s)]),
  timer('revoke-deadline'),
];
const key = ({ value, context }: Snap) => JSON.stringify([value, context.seen, context.revocations]);
const snap = (where: (s: Snap) => boolean) => at<EmergencyOverrideContext>(playbook, input(), { events, key, where });
const inState = (name: string) => (s: Snap) => s.value === name && Object.keys(s.context.seen).length === 2;
const revoking = (one: string, two: string) => (s: Snap) => s.value === 'revoking' && s.context.revocations['revoke-ov-1'] === one && s.context.revocations['revoke-ov-2'] === two;

const notify = (ids: string): ActionRequest => ({
  step: 'notify-committee',
  type: 'charter.notification',
  params: {
    severity: 'CRITICAL',
    summary: `${ALERT}: emergency override(s) ${ids} active for more than 30 min. Acknowledge, or extend at the Charter, within 15 min, or mapek asks to revoke them.`,
    recipients: ['audit-committee'],
  },
});
const reread: ActionRequest = { step: 'reread-overrides', type: 'charter.read', params: { path: '/api/overrides?status=active' } };
const revoke = (id: string): ActionRequest => ({
  step: `revoke-${id}`,
  type: 'charter.override_revoke',
  params: { id, by: 'mapek', reason: `${ALERT}: not acknowledged or extended within 15 min` },
  approvalQuorum: 1,
});
const page = (reason: string): ActionRequest => ({ step: 'page', type: 'page', params: { summary: `${ALERT} escalated: ${reason}`, severity: 'critical' } });
const ACK_TIMER = [{ name: 'ack-deadline', delayMs: 900_000 }];

const cases: Case[] = [
  // reading
  {
    name: 'the active overrides read: the committee is notified, the acknowledgement deadline armed',
    claim: { from: 'reading', event: 'action.succeeded', guard: 'isReadAnswer', to: 'screening' },
    source: () => ({ snapshot: snap((s) => s.value === 'reading'), event: readOk(TWO) }),
    expect: { state: 'awaiting', incidentState: 'remediating', actions: [notify('ov-1, ov-2')], timers: ACK_TIMER },
  },
  {
    name: 'the read failed: the committee still hears of it (the re-read decides)',
    claim: { from: 'reading', event: 'action.failed', guard: 'isReadAnswer', to: 'notifying' },
    source: () => ({ snapshot: snap((s) => s.value === 'reading'), event: failed('read-overrides', 'HTTP 503') }),
    expect: { state: 'awaiting', incidentState: 'remediating', actions: [notify('(unknown)')], timers: ACK_TIMER },
  },
  // screening
  {
    name: 'no override active at the Charter: resolved, nobody bothered',
    claim: { from: 'screening', event: '(always)', guard: 'noneActive', to: 'resolved' },
    source: () => ({ snapshot: snap((s) => s.value === 'reading'), event: readOk([{ id: 'ov-9', status: 'revoked' }]) }),
    expect: { state: 'resolved', incidentState: 'resolved' },
  },
  {
    name: 'an override active: notify',
    claim: { from: 'screening', event: '(always)', to: 'notifying' },
    source: () => ({ snapshot: snap((s) => s.value === 'reading'), event: readOk([override('ov-1', 2)]) }),
    expect: { state: 'awaiting', actions: [notify('ov-1')], timers: ACK_TIMER },
  },
  // notifying
  {
    name: 'notified: wait for an acknowledgement or an extension',
    claim: { from: 'notifying', event: '(always)', to: 'awaiting' },
    source: () => ({ snapshot: snap((s) => s.value === 'reading'), event: readOk(TWO) }),
    expect: { state: 'awaiting', actions: [notify('ov-1, ov-2')], timers: ACK_TIMER },
  },
  // awaiting
  {
    name: 'acknowledged in time: resolved',
    claim: { from: 'awaiting', event: 'incident.acknowledged', to: 'resolved' },
    source: () => ({ snapshot: snap(inState('awaiting')), event: acked('alice') }),
    expect: { state: 'resolved', incidentState: 'resolved' },
  },
  {
    name: 'the override ended (the alert resolved): resolved',
    claim: { from: 'awaiting', event: 'finding.resolved', to: 'resolved' },
    source: () => ({ snapshot: snap(inState('awaiting')), event: findingResolved(ALERT) }),
    expect: { state: 'resolved', incidentState: 'resolved' },
  },
  {
    name: 'no acknowledgement by the deadline: re-read the overrides',
    claim: { from: 'awaiting', event: 'timer.fired', guard: 'isAckDeadline', to: 'rereading' },
    source: () => ({ snapshot: snap(inState('awaiting')), event: timer('ack-deadline') }),
    expect: { state: 'rereading', incidentState: 'remediating', actions: [reread] },
  },
  // rereading
  {
    name: 'acknowledged while re-reading: resolved',
    claim: { from: 'rereading', event: 'incident.acknowledged', to: 'resolved' },
    source: () => ({ snapshot: snap(inState('rereading')), event: acked('bob') }),
    expect: { state: 'resolved', incidentState: 'resolved' },
  },
  {
    name: 'every override extended since the first read: resolved, nothing revoked',
    claim: { from: 'rereading', event: 'action.succeeded', guard: 'and(isRereadAnswer, noneToRevoke)', to: 'resolved' },
    source: () => ({ snapshot: snap(inState('rereading')), event: rereadOk([override('ov-1', 1), override('ov-2', 1)]) }),
    expect: { state: 'resolved', incidentState: 'resolved' },
  },
  {
    name: 'overrides still active and not extended: each revoked behind an approval, the approval deadline armed',
    claim: { from: 'rereading', event: 'action.succeeded', guard: 'isRereadAnswer', to: 'revoking' },
    source: () => ({ snapshot: snap(inState('rereading')), event: rereadOk([override('ov-1'), override('ov-2', 1)]) }),
    expect: { state: 'revoking', incidentState: 'remediating', actions: [revoke('ov-1')], timers: [{ name: 'revoke-deadline', delayMs: 1_800_000 }] },
  },
  {
    name: 'the re-read failed: escalated',
    claim: { from: 'rereading', event: 'action.failed', guard: 'isRereadAnswer', to: 'escalated' },
    source: () => ({ snapshot: snap(inState('rereading')), event: failed('reread-overrides', 'HTTP 503') }),
    expect: { state: 'escalated', incidentState: 'escalated', actions: [page('could not re-read the overrides: HTTP 503')] },
  },
  // revoking
  {
    name: 'one revocation done, the other awaiting: still revoking',
    claim: { from: 'revoking', event: 'action.succeeded', guard: 'isRevocationAnswer', to: 'revoking' },
    source: () => ({ snapshot: snap(revoking('awaiting', 'awaiting')), event: ok('revoke-ov-1', { id: 'ov-1', status: 'revoked' }) }),
    expect: { state: 'revoking' },
  },
  {
    name: 'one revocation failed, the other awaiting: still revoking',
    claim: { from: 'revoking', event: 'action.failed', guard: 'isRevocationAnswer', to: 'revoking' },
    source: () => ({ snapshot: snap(revoking('awaiting', 'awaiting')), event: failed('revoke-ov-1') }),
    expect: { state: 'revoking' },
  },
  {
    name: 'one revocation rejected, the other awaiting: still revoking',
    claim: { from: 'revoking', event: 'approval.rejected', guard: 'isRevocationAnswer', to: 'revoking' },
    source: () => ({ snapshot: snap(revoking('awaiting', 'awaiting')), event: rejected('revoke-ov-1') }),
    expect: { state: 'revoking' },
  },
  {
    name: 'a late acknowledgement: resolved, the revocations still awaiting approval lapse',
    claim: { from: 'revoking', event: 'incident.acknowledged', to: 'resolved' },
    source: () => ({ snapshot: snap(revoking('done', 'awaiting')), event: acked('carol') }),
    expect: { state: 'resolved', incidentState: 'resolved', expire: [{ step: 'revoke-ov-2', reason: 'the incident was acknowledged' }] },
  },
  {
    name: 'no quorum by the approval deadline: the awaiting revocations expire, escalated',
    claim: { from: 'revoking', event: 'timer.fired', guard: 'isRevokeDeadline', to: 'escalated' },
    source: () => ({ snapshot: snap(revoking('awaiting', 'awaiting')), event: timer('revoke-deadline') }),
    expect: {
      state: 'escalated',
      incidentState: 'escalated',
      actions: [page('override revocation not approved before its deadline')],
      expire: [
        { step: 'revoke-ov-1', reason: 'approval deadline passed without a quorum' },
        { step: 'revoke-ov-2', reason: 'approval deadline passed without a quorum' },
      ],
    },
  },
  {
    name: 'every revocation done: resolved',
    claim: { from: 'revoking', event: '(always)', guard: 'allRevoked', to: 'resolved' },
    source: () => ({ snapshot: snap(revoking('done', 'awaiting')), event: ok('revoke-ov-2') }),
    expect: { state: 'resolved', incidentState: 'resolved' },
  },
  {
    name: 'all settled, one not done: escalated',
    claim: { from: 'revoking', event: '(always)', guard: 'allRevocationsSettled', to: 'escalated' },
    source: () => ({ snapshot: snap(revoking('rejected', 'awaiting')), event: ok('revoke-ov-2') }),
    expect: { state: 'escalated', incidentState: 'escalated', actions: [page('an override revocation was rejected or failed')] },
  },
];

const more: Case[] = [
  {
    name: 'both overrides not extended: both revoked',
    claim: { from: 'rereading', event: 'action.succeeded', guard: 'isRereadAnswer', to: 'revoking' },
    source: () => ({ snapshot: snap(inState('rereading')), event: rereadOk(TWO) }),
    expect: { state: 'revoking', actions: [revoke('ov-1'), revoke('ov-2')], timers: [{ name: 'revoke-deadline', delayMs: 1_800_000 }] },
  },
  {
    // Without a first read nothing shows an extension since the incident: an override extended
    // before it (ov-2) is revoked too, each revocation still waiting for its approval.
    name: 'after a failed first read, the re-read revokes every active override',
    claim: { from: 'rereading', event: 'action.succeeded', guard: 'isRereadAnswer', to: 'revoking' },
    source: () => ({ snapshot: snap((s) => s.value === 'rereading' && Object.keys(s.context.seen).length === 0), event: rereadOk([override('ov-1'), override('ov-2', 1)]) }),
    expect: { state: 'revoking', actions: [revoke('ov-1'), revoke('ov-2')], timers: [{ name: 'revoke-deadline', delayMs: 1_800_000 }] },
  },
  {
    name: 'a failed revocation settles it too: escalated',
    claim: { from: 'revoking', event: '(always)', guard: 'allRevocationsSettled', to: 'escalated' },
    source: () => ({ snapshot: snap(revoking('done', 'awaiting')), event: failed('revoke-ov-2', 'HTTP 409') }),
    expect: { state: 'escalated', actions: [page('an override revocation was rejected or failed')] },
  },
];

transitionSuite(playbook, cases, { more });

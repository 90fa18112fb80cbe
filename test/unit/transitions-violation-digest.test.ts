// Every declared transition of the violation-digest machine, the root finding.added handler
// included, asserted one at a time from a snapshot reached by the shortest event path (see
// transitions-critical-violation.test.ts), with the exact commands the shipped pack makes it send.
import type { ViolationDigestContext } from '../../src/plan/playbooks/violation-digest/machine.ts';
import type { ActionRequest, PlanEvent } from '../../src/plan/types.ts';
import { at, failed, findingAdded, findingResolved, ok, planInput, playbookOf, timer, transitionSuite, type Case } from './transitions-helpers.ts';

const playbook = playbookOf('violation-digest');
const ALERT = 'HighViolationInvestigationRate';
const input = () => planInput(playbook, { alertname: ALERT, severity: 'info' });

type Snap = { value: unknown; context: ViolationDigestContext };
const events = (): PlanEvent[] => [
  timer('digest-window'),
  findingAdded('violation_rate'),
  ok('digest'),
  failed('digest'),
  findingResolved(ALERT),
  timer('watch-deadline'),
  ok('check', { holds: true, value: 1 }),
  ok('check', { holds: false, value: 0 }),
  failed('check'),
];
const key = ({ value, context }: Snap) => JSON.stringify([value, Math.min(context.findings, 2)]);
const snap = (state: string, findings = 1) => at<ViolationDigestContext>(playbook, input(), { events, key, where: (s) => s.value === state && s.context.findings === findings });

const digest = (text: string): ActionRequest => ({ step: 'digest', type: 'slack.message', params: { channel: '#charter-security', text } });
const ONE = `${ALERT} digest: 1 finding(s) in the last 5 min (${ALERT} ×1); more than 5 violations per second overall. One message per incident: later findings are counted, not sent.`;
const TWO = `${ALERT} digest: 2 finding(s) in the last 5 min (${ALERT} ×1, violation_rate ×1); more than 5 violations per second overall. One message per incident: later findings are counted, not sent.`;
const check: ActionRequest = { step: 'check', type: 'prometheus.verify', params: { query: 'sum(rate(westworld_charter_violations_total[1m])) <= bool 5', expect: 'positive' } };
const escalate = (reason: string, findings = 1): ActionRequest => ({
  step: 'escalate',
  type: 'slack.message',
  params: { channel: '#charter-security', text: `ESCALATION ${ALERT}: ${reason} (${findings} finding(s) so far)` },
});

const cases: Case[] = [
  {
    name: 'the window ends: one digest goes out',
    claim: { from: 'collecting', event: 'timer.fired', guard: 'isWindowEnd', to: 'sending' },
    source: () => ({ snapshot: snap('collecting'), event: timer('digest-window') }),
    expect: { state: 'sending', incidentState: 'remediating', actions: [digest(ONE)] },
  },
  {
    name: 'the digest sent: watch, the deadline armed',
    claim: { from: 'sending', event: 'action.succeeded', guard: 'isDigestAnswer', to: 'watching' },
    source: () => ({ snapshot: snap('sending'), event: ok('digest', { ts: '1.0' }) }),
    expect: { state: 'watching', incidentState: 'verifying', timers: [{ name: 'watch-deadline', delayMs: 1_800_000 }] },
  },
  {
    name: 'the digest could not be sent: escalated',
    claim: { from: 'sending', event: 'action.failed', guard: 'isDigestAnswer', to: 'escalated' },
    source: () => ({ snapshot: snap('sending'), event: failed('digest', 'slack: channel_not_found') }),
    expect: { state: 'escalated', incidentState: 'escalated', actions: [escalate('digest not sent: slack: channel_not_found')] },
  },
  {
    name: 'the finding resolved while watching: resolved',
    claim: { from: 'watching', event: 'finding.resolved', to: 'resolved' },
    source: () => ({ snapshot: snap('watching'), event: findingResolved(ALERT) }),
    expect: { state: 'resolved', incidentState: 'resolved' },
  },
  {
    name: 'the watch deadline: check the overall rate once',
    claim: { from: 'watching', event: 'timer.fired', guard: 'isWatchDeadline', to: 'checking' },
    source: () => ({ snapshot: snap('watching'), event: timer('watch-deadline') }),
    expect: { state: 'checking', incidentState: 'verifying', actions: [check] },
  },
  {
    name: 'the finding resolved while checking: resolved',
    claim: { from: 'checking', event: 'finding.resolved', to: 'resolved' },
    source: () => ({ snapshot: snap('checking'), event: findingResolved(ALERT) }),
    expect: { state: 'resolved', incidentState: 'resolved' },
  },
  {
    name: 'the rate is normal again: resolved',
    claim: { from: 'checking', event: 'action.succeeded', guard: 'checkHolds', to: 'resolved' },
    source: () => ({ snapshot: snap('checking'), event: ok('check', { holds: true, value: 1 }) }),
    expect: { state: 'resolved', incidentState: 'resolved' },
  },
  {
    name: 'the rate still high: escalated',
    claim: { from: 'checking', event: 'action.succeeded', guard: 'isCheckAnswer', to: 'escalated' },
    source: () => ({ snapshot: snap('checking'), event: ok('check', { holds: false, value: 0 }) }),
    expect: { state: 'escalated', incidentState: 'escalated', actions: [escalate('the violation rate is still high')] },
  },
  {
    name: 'the rate could not be checked: escalated',
    claim: { from: 'checking', event: 'action.failed', guard: 'isCheckAnswer', to: 'escalated' },
    source: () => ({ snapshot: snap('checking'), event: failed('check', 'Prometheus unreachable') }),
    expect: { state: 'escalated', incidentState: 'escalated', actions: [escalate('the violation rate could not be checked: Prometheus unreachable')] },
  },
  {
    name: 'a finding joining while collecting is counted, not sent',
    claim: { from: '*', event: 'finding.added', to: '*' },
    source: () => ({ snapshot: snap('collecting'), event: findingAdded('violation_rate') }),
    expect: { state: 'collecting', incidentState: 'remediating' },
  },
];

const more: Case[] = [
  {
    name: 'the digest counts the findings that joined',
    claim: { from: 'collecting', event: 'timer.fired', guard: 'isWindowEnd', to: 'sending' },
    source: () => ({ snapshot: snap('collecting', 2), event: timer('digest-window') }),
    expect: { state: 'sending', actions: [digest(TWO)] },
  },
  {
    name: 'a finding joining while watching is counted, the watch goes on',
    claim: { from: '*', event: 'finding.added', to: '*' },
    source: () => ({ snapshot: snap('watching'), event: findingAdded('violation_rate') }),
    expect: { state: 'watching', incidentState: 'verifying' },
  },
  {
    name: 'an escalation says how many findings there were',
    claim: { from: 'checking', event: 'action.succeeded', guard: 'isCheckAnswer', to: 'escalated' },
    source: () => ({ snapshot: snap('checking', 2), event: ok('check', { holds: false, value: 0 }) }),
    expect: { state: 'escalated', actions: [escalate('the violation rate is still high', 2)] },
  },
];

transitionSuite(playbook, cases, { more });

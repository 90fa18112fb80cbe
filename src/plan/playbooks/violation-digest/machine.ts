/**
 * HighViolationInvestigationRate: one digest per incident, not one message per violation. The
 * first finding opens a durable digest window; findings that join meanwhile are counted; at the
 * window's end one message goes out → watch until the finding resolves or the watch deadline,
 * then check the overall rate once → resolved | escalated.
 */
import { assign, setup } from 'xstate';
import type { ActionRequest, ExpireRequest, IncidentState, PlanEvent, TimerRequest } from '../../types.ts';
import { errorOf, resultOf, stepOf, timerOf } from '../charter-common/events.ts';

/** Settings the pack gives this playbook (durations in ms). */
export interface ViolationDigestSettings {
  windowMs: number;
  watchMs: number;
  channel: string;
  /** Violations per second overall that count as normal again. */
  maxRatePerS: number;
}

/** What an incident gives the plan when it opens. */
export interface ViolationDigestInput {
  alertname: string;
  labels: Record<string, string>;
  settings: ViolationDigestSettings;
}

/** The plan's durable memory. */
export interface ViolationDigestContext extends ViolationDigestInput {
  findings: number;
  names: Record<string, number>;
  digestSent?: boolean;
  lastVerification?: Record<string, unknown>;
  escalationReason?: string;
}

const DIGEST = 'digest';
const CHECK = 'check';

/** The digest's text (pure). */
export function digestText(context: ViolationDigestContext): string {
  const by = Object.entries(context.names).map(([n, c]) => `${n} ×${c}`).join(', ');
  return `${context.alertname} digest: ${context.findings} finding(s) in the last ${context.settings.windowMs / 60_000} min (${by}); more than ${context.settings.maxRatePerS} violations per second overall. One message per incident: later findings are counted, not sent.`;
}

/** The statechart; `request` and `arm` are commands collected by the pure step. */
export const violationDigestMachine = setup({
  types: { context: {} as ViolationDigestContext, events: {} as PlanEvent, input: {} as ViolationDigestInput },
  actions: {
    request: (_, _params: ActionRequest) => {},
    arm: (_, _params: TimerRequest) => {},
    expire: (_, _params: ExpireRequest) => {},
  },
  guards: {
    isWindowEnd: ({ event }) => timerOf(event) === 'digest-window',
    isWatchDeadline: ({ event }) => timerOf(event) === 'watch-deadline',
    isDigestAnswer: ({ event }) => stepOf(event) === DIGEST,
    isCheckAnswer: ({ event }) => stepOf(event) === CHECK,
    checkHolds: ({ event }) => stepOf(event) === CHECK && resultOf(event)?.holds === true,
  },
}).createMachine({
  id: 'violation-digest',
  context: ({ input }) => ({ ...input, findings: 1, names: { [input.labels.alertname ?? input.alertname]: 1 } }),
  initial: 'collecting',
  on: {
    // Counted whatever the state: the digest (or the record) says how many there were.
    'finding.added': {
      actions: assign(({ context, event }) => {
        const name = event.type === 'finding.added' ? event.name : 'finding';
        return { findings: context.findings + 1, names: { ...context.names, [name]: (context.names[name] ?? 0) + 1 } };
      }),
    },
  },
  states: {
    collecting: {
      entry: { type: 'arm', params: ({ context }) => ({ name: 'digest-window', delayMs: context.settings.windowMs }) },
      on: { 'timer.fired': { guard: 'isWindowEnd', target: 'sending' } },
    },
    sending: {
      entry: { type: 'request', params: ({ context }) => ({ step: DIGEST, type: 'slack.message', params: { channel: context.settings.channel, text: digestText(context) } }) },
      on: {
        'action.succeeded': { guard: 'isDigestAnswer', target: 'watching', actions: assign({ digestSent: true }) },
        'action.failed': { guard: 'isDigestAnswer', target: 'escalated', actions: assign({ escalationReason: ({ event }) => `digest not sent: ${errorOf(event)}` }) },
      },
    },
    watching: {
      entry: { type: 'arm', params: ({ context }) => ({ name: 'watch-deadline', delayMs: context.settings.watchMs }) },
      on: {
        'finding.resolved': { target: 'resolved' },
        'timer.fired': { guard: 'isWatchDeadline', target: 'checking' },
      },
    },
    checking: {
      entry: {
        type: 'request',
        params: ({ context }) => ({ step: CHECK, type: 'prometheus.verify', params: { query: `sum(rate(westworld_charter_violations_total[1m])) <= bool ${context.settings.maxRatePerS}`, expect: 'positive' } }),
      },
      on: {
        'finding.resolved': { target: 'resolved' },
        'action.succeeded': [
          { guard: 'checkHolds', target: 'resolved', actions: assign({ lastVerification: ({ event }) => resultOf(event) }) },
          { guard: 'isCheckAnswer', target: 'escalated', actions: assign({ lastVerification: ({ event }) => resultOf(event), escalationReason: 'the violation rate is still high' }) },
        ],
        'action.failed': { guard: 'isCheckAnswer', target: 'escalated', actions: assign({ escalationReason: ({ event }) => `the violation rate could not be checked: ${errorOf(event)}` }) },
      },
    },
    resolved: {},
    escalated: {
      entry: {
        type: 'request',
        params: ({ context }) => ({
          step: 'escalate',
          type: 'slack.message',
          params: { channel: context.settings.channel, text: `ESCALATION ${context.alertname}: ${context.escalationReason ?? 'not resolved'} (${context.findings} finding(s) so far)` },
        }),
      },
    },
  },
});

/** The incident state of a state of this machine. */
export function violationDigestIncidentState(state: string): IncidentState {
  if (state === 'watching' || state === 'checking') return 'verifying';
  if (state === 'resolved' || state === 'escalated') return state;
  return 'remediating';
}

/**
 * The notify-then-watch family: send the notifications → watch until the finding resolves, or
 * until a durable deadline → then check once (level-based: read Prometheus, do not trust the
 * absence of a resolution event) → resolved when the predicate holds, escalated otherwise.
 */
import { assign, enqueueActions, setup } from 'xstate';
import type { ActionRequest, ExpireRequest, IncidentState, PlanEvent, TimerRequest } from '../../types.ts';
import { errorOf, resultOf, stepOf } from './events.ts';

/** A plan of this family, as a playbook's input builds it. */
export interface NotifyWatchInput {
  subject: string;
  /** Sent in order; best effort (a failed notification is recorded, the watch goes on). */
  notifications: ActionRequest[];
  /** How long the condition may last before the check (ValidationLatencySLAViolation: 30 min). */
  watchMs: number;
  /** The check at the deadline: as `prometheus.verify` reads it. */
  check: { query: string; expect: 'zero' | 'positive' };
  /** The escalation; its summary gets the reason appended. */
  escalation: ActionRequest;
  onResolved?: ActionRequest;
}

/** The plan's durable memory. */
export interface NotifyWatchContext extends NotifyWatchInput {
  cursor: number;
  failedNotifications: string[];
  resolvedBy?: string;
  lastVerification?: Record<string, unknown>;
  escalationReason?: string;
}

const CHECK_STEP = 'check';
const WATCH_TIMER = 'watch-deadline';

/** Builds one machine of the family under its own id. */
export function notifyWatchMachine(id: string) {
  return setup({
    types: { context: {} as NotifyWatchContext, events: {} as PlanEvent, input: {} as NotifyWatchInput },
    actions: {
      request: (_, _params: ActionRequest) => {},
      arm: (_, _params: TimerRequest) => {},
      expire: (_, _params: ExpireRequest) => {},
    },
    guards: {
      allSent: ({ context }) => context.cursor >= context.notifications.length,
      isCurrentNotification: ({ context, event }) => stepOf(event) === context.notifications[context.cursor]?.step,
      isWatchDeadline: ({ event }) => event.type === 'timer.fired' && event.name === WATCH_TIMER,
      isCheckAnswer: ({ event }) => stepOf(event) === CHECK_STEP,
      checkHolds: ({ event }) => stepOf(event) === CHECK_STEP && resultOf(event)?.holds === true,
    },
  }).createMachine({
    id,
    context: ({ input }) => ({ ...input, cursor: 0, failedNotifications: [] }),
    initial: 'notifying',
    states: {
      notifying: {
        entry: enqueueActions(({ context, enqueue }) => {
          const next = context.notifications[context.cursor];
          if (next) enqueue({ type: 'request', params: next });
        }),
        always: { guard: 'allSent', target: 'watching' },
        on: {
          'action.succeeded': { guard: 'isCurrentNotification', target: 'notifying', reenter: true, actions: assign({ cursor: ({ context }) => context.cursor + 1 }) },
          'action.failed': {
            guard: 'isCurrentNotification',
            target: 'notifying',
            reenter: true,
            actions: assign({
              failedNotifications: ({ context, event }) => [...context.failedNotifications, `${stepOf(event)}: ${errorOf(event)}`],
              cursor: ({ context }) => context.cursor + 1,
            }),
          },
          'finding.resolved': { target: 'resolved', actions: assign({ resolvedBy: ({ event }) => (event.type === 'finding.resolved' ? event.name : undefined) }) },
        },
      },
      watching: {
        entry: { type: 'arm', params: ({ context }) => ({ name: WATCH_TIMER, delayMs: context.watchMs }) },
        on: {
          'timer.fired': { guard: 'isWatchDeadline', target: 'checking' },
          'finding.resolved': { target: 'resolved', actions: assign({ resolvedBy: ({ event }) => (event.type === 'finding.resolved' ? event.name : undefined) }) },
        },
      },
      checking: {
        entry: { type: 'request', params: ({ context }) => ({ step: CHECK_STEP, type: 'prometheus.verify', params: { query: context.check.query, expect: context.check.expect } }) },
        on: {
          'action.succeeded': [
            { guard: 'checkHolds', target: 'resolved', actions: assign({ lastVerification: ({ event }) => resultOf(event) }) },
            {
              guard: 'isCheckAnswer',
              target: 'escalated',
              actions: assign({ lastVerification: ({ event }) => resultOf(event), escalationReason: ({ context }) => `still breached after ${context.watchMs / 60_000} min` }),
            },
          ],
          // Cannot confirm recovery: a person looks (the safe outcome).
          'action.failed': {
            guard: 'isCheckAnswer',
            target: 'escalated',
            actions: assign({ escalationReason: ({ context, event }) => `still open after ${context.watchMs / 60_000} min; recovery not confirmed (${errorOf(event)})` }),
          },
          'finding.resolved': { target: 'resolved', actions: assign({ resolvedBy: ({ event }) => (event.type === 'finding.resolved' ? event.name : undefined) }) },
        },
      },
      resolved: {
        entry: enqueueActions(({ context, enqueue }) => {
          if (context.onResolved) enqueue({ type: 'request', params: context.onResolved });
        }),
      },
      escalated: {
        entry: {
          type: 'request',
          params: ({ context }) => ({
            ...context.escalation,
            params: { ...context.escalation.params, summary: `${String(context.escalation.params.summary ?? context.subject)}: ${context.escalationReason ?? 'not resolved'}` },
          }),
        },
      },
    },
  });
}

/** The incident state of a state of this family. */
export function notifyWatchIncidentState(state: string): IncidentState {
  if (state === 'watching' || state === 'checking') return 'verifying';
  if (state === 'resolved' || state === 'escalated') return state;
  return 'remediating';
}

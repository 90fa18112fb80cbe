/**
 * The remediate-then-verify family: run the steps in order → verify a PromQL predicate, first
 * checked after a settle delay, then re-checked until it holds or its deadline passes → resolved,
 * or another attempt (repeatable steps again, as a new iteration), or escalated. Every delay is a
 * durable timer (`arm`), never XState's `after`.
 */
import { and, assign, enqueueActions, setup } from 'xstate';
import type { ActionRequest, ExpireRequest, IncidentState, PlanEvent, TimerRequest } from '../../types.ts';
import { errorOf, resultOf, stepOf, timerOf } from './events.ts';

/** One remediation step; `repeat` steps run again (a new iteration) on each further attempt. */
export interface RemediationStep extends ActionRequest {
  repeat?: boolean;
  /** A failed optional step (a notification) is recorded and the plan goes on. */
  optional?: boolean;
}

/** What must become true, and how long it may take. */
export interface Verification {
  query: string;
  /** As the `prometheus.verify` actuator reads it: `zero` (the sum is 0) or `positive` (the sum is > 0). */
  expect: 'zero' | 'positive';
  firstCheckMs: number;
  intervalMs: number;
  deadlineMs: number;
}

/** A plan of this family, as a playbook's input builds it. */
export interface RemediateVerifyInput {
  /** Who or what the incident is about, for summaries. */
  subject: string;
  steps: RemediationStep[];
  verification: Verification;
  /** Attempts before escalating (PolicyLoadFailure: 2 reloads). */
  maxAttempts: number;
  /** The escalation; its summary gets the reason appended. */
  escalation: ActionRequest;
  /** Sent once when verification passes (e.g. "failover ended"). */
  onResolved?: ActionRequest;
  /** A subject remediated this many times recently is escalated at once (the pack's flap guard). */
  flap?: { max: number; window: string; recent: number };
}

/** The plan's durable memory. */
export interface RemediateVerifyContext extends RemediateVerifyInput {
  attempt: number;
  cursor: number;
  verifyChecks: number;
  failedOptional: string[];
  lastVerification?: Record<string, unknown>;
  escalationReason?: string;
}

/** The steps of the current attempt: all of them first, then only the repeatable ones. */
export function stepsOf(context: Pick<RemediateVerifyContext, 'steps' | 'attempt'>): RemediationStep[] {
  return context.attempt === 1 ? context.steps : context.steps.filter((s) => s.repeat);
}

function currentStep(context: RemediateVerifyContext): RemediationStep | undefined {
  return stepsOf(context)[context.cursor];
}

/** The ActionRequest of a step in the current attempt (iteration = attempt for repeatable steps). */
function requestOf(context: RemediateVerifyContext, step: RemediationStep): ActionRequest {
  const { repeat: _repeat, optional: _optional, ...request } = step;
  return context.attempt > 1 ? { ...request, iteration: context.attempt } : request;
}

const verifyPrefix = (context: RemediateVerifyContext) => `verify-a${context.attempt}-`;

/** Builds one machine of the family under its own id (each playbook's machine is distinct). */
export function remediateVerifyMachine(id: string) {
  return setup({
    types: {
      context: {} as RemediateVerifyContext,
      events: {} as PlanEvent,
      input: {} as RemediateVerifyInput,
    },
    actions: {
      request: (_, _params: ActionRequest) => {},
      arm: (_, _params: TimerRequest) => {},
      expire: (_, _params: ExpireRequest) => {},
    },
    guards: {
      isFlapping: ({ context }) => context.flap !== undefined && context.flap.recent >= context.flap.max,
      allStepsDone: ({ context }) => context.cursor >= stepsOf(context).length,
      isCurrentStepDone: ({ context, event }) => event.type === 'action.succeeded' && event.step === currentStep(context)?.step,
      isCurrentStepFailed: ({ context, event }) => event.type === 'action.failed' && event.step === currentStep(context)?.step,
      isOptionalStep: ({ context }) => currentStep(context)?.optional === true,
      isVerifyCheckDue: ({ context, event }) => timerOf(event)?.startsWith(`${verifyPrefix(context)}check-`) === true,
      isVerifyDeadline: ({ context, event }) => timerOf(event) === `${verifyPrefix(context)}deadline`,
      canRetry: ({ context }) => context.attempt < context.maxAttempts,
      isVerifyAnswer: ({ context, event }) => stepOf(event)?.startsWith(verifyPrefix(context)) === true,
      verificationHolds: ({ context, event }) =>
        stepOf(event)?.startsWith(verifyPrefix(context)) === true && resultOf(event)?.holds === true,
    },
  }).createMachine({
    id,
    context: ({ input }) => ({ ...input, attempt: 1, cursor: 0, verifyChecks: 0, failedOptional: [] }),
    initial: 'screening',
    states: {
      screening: {
        always: [
          {
            guard: 'isFlapping',
            target: 'escalated',
            actions: assign({
              escalationReason: ({ context }) => `flapping: ${context.flap?.recent} earlier incidents on ${context.subject} within ${context.flap?.window}`,
            }),
          },
          { target: 'acting' },
        ],
      },
      acting: {
        entry: enqueueActions(({ context, enqueue }) => {
          const step = currentStep(context);
          if (step) enqueue({ type: 'request', params: requestOf(context, step) });
        }),
        always: { guard: 'allStepsDone', target: 'verifying' },
        on: {
          'action.succeeded': { guard: 'isCurrentStepDone', target: 'acting', reenter: true, actions: assign({ cursor: ({ context }) => context.cursor + 1 }) },
          'action.failed': [
            {
              // Notifications are best effort: the remediation does not wait on them.
              guard: and(['isCurrentStepFailed', 'isOptionalStep']),
              target: 'acting',
              reenter: true,
              actions: assign({
                failedOptional: ({ context, event }) => [...context.failedOptional, `${stepOf(event)}: ${errorOf(event)}`],
                cursor: ({ context }) => context.cursor + 1,
              }),
            },
            {
              guard: 'isCurrentStepFailed',
              target: 'escalated',
              actions: assign({ escalationReason: ({ event }) => `action ${stepOf(event)} failed: ${errorOf(event)}` }),
            },
          ],
        },
      },
      verifying: {
        entry: [
          { type: 'arm', params: ({ context }) => ({ name: `${verifyPrefix(context)}check-1`, delayMs: context.verification.firstCheckMs }) },
          { type: 'arm', params: ({ context }) => ({ name: `${verifyPrefix(context)}deadline`, delayMs: context.verification.deadlineMs }) },
        ],
        on: {
          'timer.fired': [
            {
              guard: 'isVerifyCheckDue',
              actions: [
                assign({ verifyChecks: ({ context }) => context.verifyChecks + 1 }),
                {
                  type: 'request',
                  params: ({ context }) => ({
                    step: `${verifyPrefix(context)}${context.verifyChecks}`,
                    type: 'prometheus.verify',
                    params: { query: context.verification.query, expect: context.verification.expect },
                  }),
                },
              ],
            },
            {
              guard: 'isVerifyDeadline',
              target: 'retrying',
            },
          ],
          'action.succeeded': [
            { guard: 'verificationHolds', target: 'resolved', actions: assign({ lastVerification: ({ event }) => resultOf(event) }) },
            {
              guard: 'isVerifyAnswer',
              actions: [
                assign({ lastVerification: ({ event }) => resultOf(event) }),
                { type: 'arm', params: ({ context }) => ({ name: `${verifyPrefix(context)}check-${context.verifyChecks + 1}`, delayMs: context.verification.intervalMs }) },
              ],
            },
          ],
          // Prometheus unreachable is not evidence either way: check again later.
          'action.failed': {
            guard: 'isVerifyAnswer',
            actions: { type: 'arm', params: ({ context }) => ({ name: `${verifyPrefix(context)}check-${context.verifyChecks + 1}`, delayMs: context.verification.intervalMs }) },
          },
        },
      },
      // The deadline passed without the predicate holding: another attempt, or escalate.
      retrying: {
        always: [
          { guard: 'canRetry', target: 'acting', actions: assign({ attempt: ({ context }) => context.attempt + 1, cursor: 0, verifyChecks: 0 }) },
          {
            target: 'escalated',
            actions: assign({
              escalationReason: ({ context }) =>
                `not verified after ${context.attempt} attempt${context.attempt === 1 ? '' : 's'} (${context.verification.query} expected ${context.verification.expect})`,
            }),
          },
        ],
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
            params: { ...context.escalation.params, summary: `${String(context.escalation.params.summary ?? context.subject)}: ${context.escalationReason ?? 'remediation failed'}` },
          }),
        },
      },
    },
  });
}

/** The incident state of a state of this family. */
export function remediateVerifyIncidentState(state: string): IncidentState {
  if (state === 'verifying') return 'verifying';
  if (state === 'resolved' || state === 'escalated') return state;
  return 'remediating';
}

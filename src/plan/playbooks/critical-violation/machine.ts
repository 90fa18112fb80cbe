/** CriticalViolationDetected: look up severity → investigate, quarantine per ladder, notify → verify → resolved | escalated. */
import { and, assign, setup } from 'xstate';
import type { ActionRequest, ExpireRequest, PlanEvent, TimerRequest } from '../../types.ts';
import { isBan, remediationSteps, removalRequest, worstSeverity, type CharterSeverity } from './ladder.ts';

/** Settings the pack gives this playbook (durations already in ms, windows as PromQL text). */
export interface CriticalViolationSettings {
  severityLookupWindow: string;
  verifyWindow: string;
  verifyFirstCheckMs: number;
  verifyIntervalMs: number;
  verifyDeadlineMs: number;
  removalQuorum: number;
  removalApprovalDeadlineMs: number;
  recipients: string[];
  /** The flap guard: this many earlier incidents on the subject within the window escalate at once. */
  flapMax?: number;
  flapWindow?: string;
}

/** What an incident gives the plan when it opens. */
export interface CriticalViolationInput {
  node: string;
  alertname: string;
  labels: Record<string, string>;
  settings: CriticalViolationSettings;
  /** Earlier incidents of this playbook on this subject within the flap window. */
  recentIncidents?: number;
}

/** The plan's durable memory. */
export interface CriticalViolationContext extends CriticalViolationInput {
  severity?: CharterSeverity;
  severitySource?: 'prometheus' | 'alert' | 'default';
  severitiesSeen?: string[];
  steps: ActionRequest[];
  cursor: number;
  verifyChecks: number;
  lastVerification?: Record<string, unknown>;
  removal?: 'awaiting_approval' | 'expired' | 'done' | 'failed' | 'rejected';
  escalationReason?: string;
}

type Ev = PlanEvent;

const LOOKUP_STEP = 'lookup-severity';

function stepOf(event: Ev): string | undefined {
  return 'step' in event ? event.step : undefined;
}

function verificationQuery(node: string, window: string): string {
  return `sum(increase(westworld_charter_violations_total{node_or_service="${escapePromQL(node)}"}[${window}]))`;
}

/** Escapes a label value for a double-quoted PromQL string. */
export function escapePromQL(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** Decides the severity from what Prometheus saw, the alert's label, or the safe reversible default. */
function decideSeverity(context: CriticalViolationContext, seen: string[]): Pick<CriticalViolationContext, 'severity' | 'severitySource' | 'severitiesSeen'> {
  const fromPrometheus = worstSeverity(seen);
  const fromAlert = worstSeverity([context.labels.violation_severity ?? '', context.labels.severity ?? '']);
  const worst = worstSeverity([fromPrometheus ?? '', fromAlert ?? '']);
  if (worst) return { severity: worst, severitySource: worst === fromPrometheus ? 'prometheus' : 'alert', severitiesSeen: seen };
  // A critical alert with no severity on record: quarantine (reversible) rather than nothing.
  return { severity: 'SUSPENSION', severitySource: 'default', severitiesSeen: seen };
}

/** The statechart; actions `request`, `arm` and `expire` are commands collected by the pure step. */
export const criticalViolationMachine = setup({
  types: {
    context: {} as CriticalViolationContext,
    events: {} as Ev,
    input: {} as CriticalViolationInput,
  },
  actions: {
    request: (_, _params: ActionRequest) => {},
    arm: (_, _params: TimerRequest) => {},
    expire: (_, _params: ExpireRequest) => {},
  },
  guards: {
    isLookupDone: ({ event }) => stepOf(event) === LOOKUP_STEP,
    isCurrentStepDone: ({ context, event }) => event.type === 'action.succeeded' && event.step === context.steps[context.cursor]?.step,
    isLastStep: ({ context }) => context.cursor >= context.steps.length - 1,
    isCurrentStepFailed: ({ context, event }) => event.type === 'action.failed' && event.step === context.steps[context.cursor]?.step,
    isBanSeverity: ({ context }) => context.severity !== undefined && isBan(context.severity),
    isVerifyCheckDue: ({ event }) => event.type === 'timer.fired' && event.name.startsWith('verify-check-'),
    isVerifyDeadline: ({ event }) => event.type === 'timer.fired' && event.name === 'verify-deadline',
    verificationHolds: ({ event }) =>
      event.type === 'action.succeeded' && event.step.startsWith('verify-') && event.result.holds === true,
    isVerifyAnswer: ({ event }) => stepOf(event)?.startsWith('verify-') === true,
    isFlapping: ({ context }) => context.settings.flapMax !== undefined && (context.recentIncidents ?? 0) >= context.settings.flapMax,
    isRemovalOutcome: ({ context, event }) => stepOf(event) === 'remove-node' && context.removal === 'awaiting_approval',
    isRemovalDeadline: ({ context, event }) =>
      event.type === 'timer.fired' && event.name === 'removal-deadline' && context.removal === 'awaiting_approval',
  },
}).createMachine({
  id: 'critical-violation',
  context: ({ input }) => ({ ...input, steps: [], cursor: 0, verifyChecks: 0 }),
  initial: 'screening',
  on: {
    // The gated removal runs beside the plan: its outcome is recorded whatever state the plan is in.
    'action.succeeded': { guard: 'isRemovalOutcome', actions: assign({ removal: 'done' }) },
    // A removal that could not run (a spent budget, a Charter refusing it) goes to the committee.
    'action.failed': {
      guard: 'isRemovalOutcome',
      target: '.escalated',
      actions: assign({ removal: 'failed', escalationReason: ({ event }) => (event.type === 'action.failed' ? `removal failed: ${event.error}` : undefined) }),
    },
    // A rejected removal is a removal without its approvals: the committee must take it from here.
    'approval.rejected': {
      guard: 'isRemovalOutcome',
      target: '.escalated',
      actions: assign({ removal: 'rejected', escalationReason: 'removal rejected by the committee' }),
    },
    // A removal's deadline counts whatever state verification reached (CHARTER.md).
    'timer.fired': {
      guard: 'isRemovalDeadline',
      target: '.escalated',
      actions: [
        assign({ removal: 'expired', escalationReason: 'removal not approved before its deadline' }),
        { type: 'expire', params: { step: 'remove-node', reason: 'approval deadline passed without a quorum' } },
      ],
    },
  },
  states: {
    // The flap guard: a subject remediated again and again is escalated, not remediated again.
    screening: {
      always: [
        {
          guard: 'isFlapping',
          target: 'escalated',
          actions: assign({
            escalationReason: ({ context }) =>
              `flapping: ${context.recentIncidents} earlier incidents on ${context.node} within ${context.settings.flapWindow}`,
          }),
        },
        { target: 'lookingUp' },
      ],
    },
    lookingUp: {
      entry: {
        type: 'request',
        params: ({ context }) => ({
          step: LOOKUP_STEP,
          type: 'prometheus.severity',
          params: { node_or_service: context.node, window: context.settings.severityLookupWindow },
        }),
      },
      on: {
        'action.succeeded': {
          guard: 'isLookupDone',
          target: 'planning',
          actions: assign(({ context, event }) => {
            const seen = event.type === 'action.succeeded' && Array.isArray(event.result.severities) ? (event.result.severities as string[]) : [];
            return decideSeverity(context, seen);
          }),
        },
        'action.failed': {
          guard: 'isLookupDone',
          target: 'planning',
          actions: assign(({ context }) => decideSeverity(context, [])),
        },
      },
    },
    planning: {
      entry: assign(({ context }) => ({
        steps: remediationSteps({
          node: context.node,
          severity: context.severity!,
          violationType: context.labels.violation_type ?? 'unspecified',
          recipients: context.settings.recipients,
          alertname: context.alertname,
        }),
        cursor: 0,
      })),
      always: [
        {
          guard: 'isBanSeverity',
          target: 'acting',
          actions: [
            assign({ removal: 'awaiting_approval' }),
            { type: 'request', params: ({ context }) => removalRequest(context.node, context.severity!, context.settings.removalQuorum) },
            { type: 'arm', params: ({ context }) => ({ name: 'removal-deadline', delayMs: context.settings.removalApprovalDeadlineMs }) },
          ],
        },
        { target: 'acting' },
      ],
    },
    acting: {
      entry: { type: 'request', params: ({ context }) => context.steps[context.cursor]! },
      on: {
        'action.succeeded': [
          { guard: and(['isCurrentStepDone', 'isLastStep']), target: 'verifying' },
          { guard: 'isCurrentStepDone', target: 'acting', reenter: true, actions: assign({ cursor: ({ context }) => context.cursor + 1 }) },
        ],
        'action.failed': {
          guard: 'isCurrentStepFailed',
          target: 'escalated',
          actions: assign({ escalationReason: ({ event }) => (event.type === 'action.failed' ? `action ${event.step} failed: ${event.error}` : undefined) }),
        },
      },
    },
    verifying: {
      entry: [
        { type: 'arm', params: ({ context }) => ({ name: 'verify-check-1', delayMs: context.settings.verifyFirstCheckMs }) },
        { type: 'arm', params: ({ context }) => ({ name: 'verify-deadline', delayMs: context.settings.verifyDeadlineMs }) },
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
                  step: `verify-${context.verifyChecks}`,
                  type: 'prometheus.verify',
                  params: { query: verificationQuery(context.node, context.settings.verifyWindow), expect: 'zero' },
                }),
              },
            ],
          },
          {
            guard: 'isVerifyDeadline',
            target: 'escalated',
            actions: assign({ escalationReason: 'violations did not stop before the verification deadline' }),
          },
        ],
        'action.succeeded': [
          {
            guard: 'verificationHolds',
            target: 'resolved',
            actions: assign({ lastVerification: ({ event }) => (event.type === 'action.succeeded' ? event.result : undefined) }),
          },
          {
            guard: 'isVerifyAnswer',
            actions: [
              assign({ lastVerification: ({ event }) => (event.type === 'action.succeeded' ? event.result : undefined) }),
              { type: 'arm', params: ({ context }) => ({ name: `verify-check-${context.verifyChecks + 1}`, delayMs: context.settings.verifyIntervalMs }) },
            ],
          },
        ],
        // Prometheus unreachable is not evidence either way: check again later.
        'action.failed': {
          guard: 'isVerifyAnswer',
          actions: { type: 'arm', params: ({ context }) => ({ name: `verify-check-${context.verifyChecks + 1}`, delayMs: context.settings.verifyIntervalMs }) },
        },
      },
    },
    resolved: {},
    escalated: {
      entry: {
        type: 'request',
        params: ({ context }) => ({
          step: 'page',
          type: 'page',
          params: {
            summary: `CriticalViolationDetected for ${context.node} escalated: ${context.escalationReason ?? 'remediation failed'}`,
            severity: 'critical',
            node_or_service: context.node,
          },
        }),
      },
    },
  },
});

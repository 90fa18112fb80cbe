/**
 * EmergencyOverrideStayingActive: read the active overrides → notify the committee → wait for an
 * acknowledgement (`incident.acknowledged`) or an extension → without one by the deadline, re-read
 * and revoke each override still active and not extended, each behind an approval gate → resolved
 * when every revocation ran; escalated when one is rejected, fails, or is not approved in time.
 */
import { and, assign, enqueueActions, setup } from 'xstate';
import type { ActionRequest, ExpireRequest, IncidentState, PlanEvent, TimerRequest } from '../../types.ts';
import { errorOf, itemsOf, stepOf, timerOf } from '../charter-common/events.ts';

/** Settings the pack gives this playbook (durations in ms). */
export interface EmergencyOverrideSettings {
  ackWindowMs: number;
  revokeQuorum: number;
  revokeApprovalDeadlineMs: number;
  recipients: string[];
}

/** What an incident gives the plan when it opens. */
export interface EmergencyOverrideInput {
  alertname: string;
  settings: EmergencyOverrideSettings;
}

/** The plan's durable memory. */
export interface EmergencyOverrideContext extends EmergencyOverrideInput {
  /** Extensions each active override had when the plan first read them, by id. */
  seen: Record<string, number>;
  /** Revocation steps and how each ended. */
  revocations: Record<string, 'awaiting' | 'done' | 'failed' | 'rejected'>;
  acknowledgedBy?: string;
  outcome?: string;
  escalationReason?: string;
}

const READ = 'read-overrides';
const REREAD = 'reread-overrides';
const ACK_TIMER = 'ack-deadline';
const REVOKE_TIMER = 'revoke-deadline';
const revokeStep = (id: string) => `revoke-${id}`;

/** Active overrides in a read, with their extension counts (pure). */
export function activeOverrides(items: Array<Record<string, unknown>>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const o of items) {
    if (o.status !== undefined && o.status !== 'active') continue;
    if (o.id === undefined) continue;
    out[String(o.id)] = Array.isArray(o.extensions) ? o.extensions.length : 0;
  }
  return out;
}

/**
 * Overrides to revoke: still active and not extended since the first read (pure). One the first
 * read did not see (it failed, or the override is new) shows no extension since: revoke it (the
 * revocation still waits for its approval).
 */
export function toRevoke(seen: Record<string, number>, now: Record<string, number>): string[] {
  return Object.keys(now).filter((id) => now[id]! <= (seen[id] ?? now[id]!));
}

const pendingRevocations = (c: EmergencyOverrideContext) => Object.keys(c.revocations).filter((s) => c.revocations[s] === 'awaiting');

/** The statechart; `request`, `arm` and `expire` are commands collected by the pure step. */
export const emergencyOverrideMachine = setup({
  types: { context: {} as EmergencyOverrideContext, events: {} as PlanEvent, input: {} as EmergencyOverrideInput },
  actions: {
    request: (_, _params: ActionRequest) => {},
    arm: (_, _params: TimerRequest) => {},
    expire: (_, _params: ExpireRequest) => {},
  },
  guards: {
    isReadAnswer: ({ event }) => stepOf(event) === READ,
    isRereadAnswer: ({ event }) => stepOf(event) === REREAD,
    noneActive: ({ context }) => Object.keys(context.seen).length === 0,
    noneToRevoke: ({ event, context }) => toRevoke(context.seen, activeOverrides(itemsOf(event))).length === 0,
    isAckDeadline: ({ event }) => timerOf(event) === ACK_TIMER,
    isRevokeDeadline: ({ event }) => timerOf(event) === REVOKE_TIMER,
    isRevocationAnswer: ({ context, event }) => context.revocations[stepOf(event) ?? ''] === 'awaiting',
    allRevoked: ({ context }) => Object.values(context.revocations).every((s) => s === 'done'),
    allRevocationsSettled: ({ context }) => pendingRevocations(context).length === 0,
  },
}).createMachine({
  id: 'emergency-override',
  context: ({ input }) => ({ ...input, seen: {}, revocations: {} }),
  initial: 'reading',
  states: {
    reading: {
      entry: { type: 'request', params: { step: READ, type: 'charter.read', params: { path: '/api/overrides?status=active' } } },
      on: {
        'action.succeeded': { guard: 'isReadAnswer', target: 'screening', actions: assign({ seen: ({ event }) => activeOverrides(itemsOf(event)) }) },
        // Without the list the committee still hears of it; the re-read at the deadline decides.
        'action.failed': { guard: 'isReadAnswer', target: 'notifying' },
      },
    },
    screening: {
      always: [{ guard: 'noneActive', target: 'resolved', actions: assign({ outcome: 'no active override at the Charter' }) }, { target: 'notifying' }],
    },
    notifying: {
      entry: {
        type: 'request',
        params: ({ context }) => ({
          step: 'notify-committee',
          type: 'charter.notification',
          params: {
            severity: 'CRITICAL',
            summary: `${context.alertname}: emergency override(s) ${Object.keys(context.seen).join(', ') || '(unknown)'} active for more than 30 min. Acknowledge, or extend at the Charter, within ${context.settings.ackWindowMs / 60_000} min, or mapek asks to revoke them.`,
            recipients: context.settings.recipients,
          },
        }),
      },
      always: { target: 'awaiting' },
    },
    awaiting: {
      entry: { type: 'arm', params: ({ context }) => ({ name: ACK_TIMER, delayMs: context.settings.ackWindowMs }) },
      on: {
        'incident.acknowledged': { target: 'resolved', actions: assign({ acknowledgedBy: ({ event }) => (event.type === 'incident.acknowledged' ? event.by : undefined), outcome: 'acknowledged' }) },
        'finding.resolved': { target: 'resolved', actions: assign({ outcome: 'the override ended' }) },
        'timer.fired': { guard: 'isAckDeadline', target: 'rereading' },
      },
    },
    rereading: {
      entry: { type: 'request', params: { step: REREAD, type: 'charter.read', params: { path: '/api/overrides?status=active' } } },
      on: {
        'incident.acknowledged': { target: 'resolved', actions: assign({ acknowledgedBy: ({ event }) => (event.type === 'incident.acknowledged' ? event.by : undefined), outcome: 'acknowledged' }) },
        'action.succeeded': [
          { guard: and(['isRereadAnswer', 'noneToRevoke']), target: 'resolved', actions: assign({ outcome: 'extended or ended before the deadline' }) },
          {
            guard: 'isRereadAnswer',
            target: 'revoking',
            actions: [
              assign({
                revocations: ({ context, event }) =>
                  Object.fromEntries(toRevoke(context.seen, activeOverrides(itemsOf(event))).map((id) => [revokeStep(id), 'awaiting' as const])),
              }),
              enqueueActions(({ context, event, enqueue }) => {
                for (const id of toRevoke(context.seen, activeOverrides(itemsOf(event)))) {
                  enqueue({
                    type: 'request',
                    params: {
                      step: revokeStep(id),
                      type: 'charter.override_revoke',
                      params: { id, by: 'mapek', reason: `${context.alertname}: not acknowledged or extended within ${context.settings.ackWindowMs / 60_000} min` },
                      approvalQuorum: context.settings.revokeQuorum,
                    },
                  });
                }
              }),
              { type: 'arm', params: ({ context }) => ({ name: REVOKE_TIMER, delayMs: context.settings.revokeApprovalDeadlineMs }) },
            ],
          },
        ],
        'action.failed': { guard: 'isRereadAnswer', target: 'escalated', actions: assign({ escalationReason: ({ event }) => `could not re-read the overrides: ${errorOf(event)}` }) },
      },
    },
    revoking: {
      always: [
        { guard: 'allRevoked', target: 'resolved', actions: assign({ outcome: 'revoked' }) },
        { guard: 'allRevocationsSettled', target: 'escalated', actions: assign({ escalationReason: 'an override revocation was rejected or failed' }) },
      ],
      on: {
        'action.succeeded': { guard: 'isRevocationAnswer', actions: assign({ revocations: ({ context, event }) => ({ ...context.revocations, [stepOf(event)!]: 'done' as const }) }) },
        'action.failed': { guard: 'isRevocationAnswer', actions: assign({ revocations: ({ context, event }) => ({ ...context.revocations, [stepOf(event)!]: 'failed' as const }) }) },
        'approval.rejected': { guard: 'isRevocationAnswer', actions: assign({ revocations: ({ context, event }) => ({ ...context.revocations, [stepOf(event)!]: 'rejected' as const }) }) },
        // A late acknowledgement: the person has it; the revocations still awaiting approval lapse.
        'incident.acknowledged': {
          target: 'resolved',
          actions: [
            assign({ acknowledgedBy: ({ event }) => (event.type === 'incident.acknowledged' ? event.by : undefined), outcome: 'acknowledged while revocation awaited approval' }),
            enqueueActions(({ context, enqueue }) => {
              for (const step of pendingRevocations(context)) enqueue({ type: 'expire', params: { step, reason: 'the incident was acknowledged' } });
            }),
          ],
        },
        'timer.fired': {
          guard: 'isRevokeDeadline',
          target: 'escalated',
          actions: [
            assign({ escalationReason: 'override revocation not approved before its deadline' }),
            enqueueActions(({ context, enqueue }) => {
              for (const step of pendingRevocations(context)) enqueue({ type: 'expire', params: { step, reason: 'approval deadline passed without a quorum' } });
            }),
          ],
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
          params: { summary: `${context.alertname} escalated: ${context.escalationReason ?? 'override still active'}`, severity: 'critical' },
        }),
      },
    },
  },
});

/** The incident state of a state of this machine. */
export function emergencyOverrideIncidentState(state: string): IncidentState {
  if (state === 'resolved' || state === 'escalated') return state;
  return 'remediating';
}

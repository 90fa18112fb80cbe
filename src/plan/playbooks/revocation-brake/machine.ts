/**
 * UnusualDataRevocationActivity: the loop has already engaged the safety brake (loop.ts
 * engageBrake); the plan pages a person, who owns the incident from then on (and releases the brake).
 */
import { assign, setup } from 'xstate';
import type { ActionRequest, ExpireRequest, IncidentState, PlanEvent, TimerRequest } from '../../types.ts';
import { errorOf, stepOf } from '../charter-common/events.ts';

/** What an incident gives the plan when it opens. */
export interface RevocationBrakeInput {
  alertname: string;
  severity: string;
}

/** The plan's durable memory. */
export interface RevocationBrakeContext extends RevocationBrakeInput {
  escalationReason?: string;
}

/** The statechart: page, then escalated (a person has it) whatever the pager answered. */
export const revocationBrakeMachine = setup({
  types: { context: {} as RevocationBrakeContext, events: {} as PlanEvent, input: {} as RevocationBrakeInput },
  actions: {
    request: (_, _params: ActionRequest) => {},
    arm: (_, _params: TimerRequest) => {},
    expire: (_, _params: ExpireRequest) => {},
  },
  guards: { isPageAnswer: ({ event }) => stepOf(event) === 'page' },
}).createMachine({
  id: 'revocation-brake',
  context: ({ input }) => ({ ...input }),
  initial: 'paging',
  states: {
    paging: {
      entry: {
        type: 'request',
        params: ({ context }) => ({
          step: 'page',
          type: 'page',
          params: {
            summary: `${context.alertname}: more than 1 data revocation per minute, sustained. The safety brake is engaged: every Charter call mapek makes waits for one approval until a person releases it (mapek brake release).`,
            severity: context.severity === 'critical' ? 'critical' : 'warning',
          },
        }),
      },
      on: {
        'action.succeeded': { guard: 'isPageAnswer', target: 'escalated', actions: assign({ escalationReason: 'safety brake engaged; paged' }) },
        'action.failed': { guard: 'isPageAnswer', target: 'escalated', actions: assign({ escalationReason: ({ event }) => `safety brake engaged; the page failed: ${errorOf(event)}` }) },
      },
    },
    escalated: {},
  },
});

/** The incident state of a state of this machine. */
export function revocationBrakeIncidentState(state: string): IncidentState {
  return state === 'escalated' ? 'escalated' : 'remediating';
}

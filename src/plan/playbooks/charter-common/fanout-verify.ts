/**
 * The read-then-act-on-each family: notify → read one Charter collection → one action per
 * selected record (its own step, so its own Idempotency-Key) → report → verify a PromQL predicate
 * with durable re-checks → resolved | escalated. CommitteeOverloaded holds investigations this way,
 * DataRevocationSLAViolation retries pending revocations.
 */
import { assign, enqueueActions, setup } from 'xstate';
import type { ActionRequest, ActionType, ExpireRequest, IncidentState, PlanEvent, TimerRequest } from '../../types.ts';
import { errorOf, itemsOf, resultOf, stepOf, timerOf } from './events.ts';
import type { Verification } from './remediate-verify.ts';

/** Which records are acted on: every condition must hold. */
export interface RecordFilter {
  field: string;
  in?: string[];
  notIn?: string[];
}

/** The action made for each selected record. */
export interface PerRecordAction {
  /** The step is `${stepPrefix}-${record.id}`. */
  stepPrefix: string;
  type: ActionType;
  params: Record<string, unknown>;
  /** Record fields copied into params (a retried revocation keeps its node, reason and scope). */
  copy?: string[];
  /** When set, the record's id goes to params[idParam] (the Charter call's `:id`). */
  idParam?: string;
}

/** A plan of this family, as a playbook's input builds it. */
export interface FanoutVerifyInput {
  subject: string;
  /** Best-effort notifications before reading. */
  before: ActionRequest[];
  /** The `charter.read` path, e.g. `/api/investigations?status=open`. */
  readPath: string;
  select: RecordFilter[];
  maxTargets: number;
  perRecord: PerRecordAction;
  /** Best-effort reports after acting; `{acted}`, `{skipped}` and `{failed}` in text/summary are filled in. */
  after: ActionRequest[];
  verification: Verification;
  /** The escalation; the reason is appended to its `text` (Slack) or `summary`. */
  escalation: ActionRequest;
}

/** The plan's durable memory. */
export interface FanoutVerifyContext extends FanoutVerifyInput {
  phase: 'before' | 'after';
  cursor: number;
  /** Steps of the per-record actions and how each ended. */
  targets: Record<string, 'pending' | 'succeeded' | 'failed'>;
  skipped: string[];
  verifyChecks: number;
  lastVerification?: Record<string, unknown>;
  escalationReason?: string;
}

const READ_STEP = 'read';

/** True when the record passes every filter. */
export function selected(record: Record<string, unknown>, filters: RecordFilter[]): boolean {
  return filters.every((f) => {
    const v = String(record[f.field] ?? '');
    return (f.in === undefined || f.in.includes(v)) && (f.notIn === undefined || !f.notIn.includes(v));
  });
}

/** The action for one record (pure). */
export function recordAction(record: Record<string, unknown>, per: PerRecordAction): ActionRequest {
  const params: Record<string, unknown> = { ...per.params };
  for (const field of per.copy ?? []) if (record[field] !== undefined) params[field] = record[field];
  if (per.idParam) params[per.idParam] = String(record.id);
  return { step: `${per.stepPrefix}-${String(record.id)}`, type: per.type, params };
}

function fill(request: ActionRequest, context: FanoutVerifyContext): ActionRequest {
  const counts = Object.values(context.targets);
  const vars: Record<string, string> = {
    acted: String(counts.filter((s) => s === 'succeeded').length),
    failed: String(counts.filter((s) => s === 'failed').length),
    skipped: String(context.skipped.length),
  };
  const params = { ...request.params };
  for (const key of ['text', 'summary']) {
    if (typeof params[key] === 'string') params[key] = (params[key] as string).replace(/\{(acted|failed|skipped)\}/g, (_, k: string) => vars[k]!);
  }
  return { ...request, params };
}

function list(context: FanoutVerifyContext): ActionRequest[] {
  return context.phase === 'before' ? context.before : context.after;
}

/** Builds one machine of the family under its own id. */
export function fanoutVerifyMachine(id: string) {
  return setup({
    types: { context: {} as FanoutVerifyContext, events: {} as PlanEvent, input: {} as FanoutVerifyInput },
    actions: {
      request: (_, _params: ActionRequest) => {},
      arm: (_, _params: TimerRequest) => {},
      expire: (_, _params: ExpireRequest) => {},
    },
    guards: {
      allNotified: ({ context }) => context.cursor >= list(context).length,
      isCurrentNotification: ({ context, event }) => stepOf(event) === list(context)[context.cursor]?.step,
      isReadAnswer: ({ event }) => stepOf(event) === READ_STEP,
      isTargetAnswer: ({ context, event }) => context.targets[stepOf(event) ?? ''] === 'pending',
      allTargetsSettled: ({ context }) => Object.values(context.targets).every((s) => s !== 'pending'),
      allTargetsFailed: ({ context }) => Object.values(context.targets).length > 0 && Object.values(context.targets).every((s) => s === 'failed'),
      isVerifyCheckDue: ({ event }) => timerOf(event)?.startsWith('verify-check-') === true,
      isVerifyDeadline: ({ event }) => timerOf(event) === 'verify-deadline',
      isVerifyAnswer: ({ event }) => stepOf(event)?.startsWith('verify-') === true,
      verificationHolds: ({ event }) => stepOf(event)?.startsWith('verify-') === true && resultOf(event)?.holds === true,
    },
  }).createMachine({
    id,
    context: ({ input }) => ({ ...input, phase: 'before' as const, cursor: 0, targets: {}, skipped: [], verifyChecks: 0 }),
    initial: 'notifying',
    states: {
      notifying: {
        entry: enqueueActions(({ context, enqueue }) => {
          const next = list(context)[context.cursor];
          if (next) enqueue({ type: 'request', params: fill(next, context) });
        }),
        always: { guard: 'allNotified', target: 'reading', actions: assign({ cursor: 0 }) },
        on: {
          'action.succeeded': { guard: 'isCurrentNotification', target: 'notifying', reenter: true, actions: assign({ cursor: ({ context }) => context.cursor + 1 }) },
          'action.failed': { guard: 'isCurrentNotification', target: 'notifying', reenter: true, actions: assign({ cursor: ({ context }) => context.cursor + 1 }) },
        },
      },
      reading: {
        entry: { type: 'request', params: ({ context }) => ({ step: READ_STEP, type: 'charter.read', params: { path: context.readPath } }) },
        on: {
          'action.succeeded': {
            guard: 'isReadAnswer',
            target: 'acting',
            actions: assign(({ context, event }) => {
              const records = itemsOf(event);
              const chosen = records.filter((r) => r.id !== undefined && selected(r, context.select));
              const acted = chosen.slice(0, context.maxTargets);
              const skipped = [...records.filter((r) => !chosen.includes(r)), ...chosen.slice(context.maxTargets)].map((r) => String(r.id));
              return { targets: Object.fromEntries(acted.map((r) => [recordAction(r, context.perRecord).step, 'pending' as const])), skipped };
            }),
          },
          'action.failed': {
            guard: 'isReadAnswer',
            target: 'escalated',
            actions: assign({ escalationReason: ({ context, event }) => `could not read ${context.readPath}: ${errorOf(event)}` }),
          },
        },
      },
      acting: {
        entry: enqueueActions(({ event, context, enqueue }) => {
          // The records come with the read's answer, once: acting is entered from it only.
          for (const r of itemsOf(event)) {
            const request = recordAction(r, context.perRecord);
            if (context.targets[request.step] === 'pending') enqueue({ type: 'request', params: request });
          }
        }),
        always: [
          { guard: 'allTargetsFailed', target: 'escalated', actions: assign({ escalationReason: ({ context }) => `every ${context.perRecord.type} failed` }) },
          { guard: 'allTargetsSettled', target: 'reporting', actions: assign({ phase: 'after' as const, cursor: 0 }) },
        ],
        on: {
          'action.succeeded': { guard: 'isTargetAnswer', actions: assign({ targets: ({ context, event }) => ({ ...context.targets, [stepOf(event)!]: 'succeeded' as const }) }) },
          'action.failed': { guard: 'isTargetAnswer', actions: assign({ targets: ({ context, event }) => ({ ...context.targets, [stepOf(event)!]: 'failed' as const }) }) },
          'approval.rejected': { guard: 'isTargetAnswer', actions: assign({ targets: ({ context, event }) => ({ ...context.targets, [stepOf(event)!]: 'failed' as const }) }) },
        },
      },
      reporting: {
        entry: enqueueActions(({ context, enqueue }) => {
          const next = list(context)[context.cursor];
          if (next) enqueue({ type: 'request', params: fill(next, context) });
        }),
        always: { guard: 'allNotified', target: 'verifying' },
        on: {
          'action.succeeded': { guard: 'isCurrentNotification', target: 'reporting', reenter: true, actions: assign({ cursor: ({ context }) => context.cursor + 1 }) },
          'action.failed': { guard: 'isCurrentNotification', target: 'reporting', reenter: true, actions: assign({ cursor: ({ context }) => context.cursor + 1 }) },
        },
      },
      verifying: {
        entry: [
          { type: 'arm', params: ({ context }) => ({ name: 'verify-check-1', delayMs: context.verification.firstCheckMs }) },
          { type: 'arm', params: ({ context }) => ({ name: 'verify-deadline', delayMs: context.verification.deadlineMs }) },
        ],
        on: {
          'timer.fired': [
            {
              guard: 'isVerifyCheckDue',
              actions: [
                assign({ verifyChecks: ({ context }) => context.verifyChecks + 1 }),
                {
                  type: 'request',
                  params: ({ context }) => ({ step: `verify-${context.verifyChecks}`, type: 'prometheus.verify', params: { query: context.verification.query, expect: context.verification.expect } }),
                },
              ],
            },
            {
              guard: 'isVerifyDeadline',
              target: 'escalated',
              actions: assign({ escalationReason: ({ context }) => `not verified before the deadline (${context.verification.query} expected ${context.verification.expect})` }),
            },
          ],
          'action.succeeded': [
            { guard: 'verificationHolds', target: 'resolved', actions: assign({ lastVerification: ({ event }) => resultOf(event) }) },
            {
              guard: 'isVerifyAnswer',
              actions: [
                assign({ lastVerification: ({ event }) => resultOf(event) }),
                { type: 'arm', params: ({ context }) => ({ name: `verify-check-${context.verifyChecks + 1}`, delayMs: context.verification.intervalMs }) },
              ],
            },
          ],
          'action.failed': {
            guard: 'isVerifyAnswer',
            actions: { type: 'arm', params: ({ context }) => ({ name: `verify-check-${context.verifyChecks + 1}`, delayMs: context.verification.intervalMs }) },
          },
        },
      },
      resolved: {},
      escalated: {
        entry: {
          type: 'request',
          params: ({ context }) => {
            const key = typeof context.escalation.params.text === 'string' ? 'text' : 'summary';
            return { ...context.escalation, params: { ...context.escalation.params, [key]: `${String(context.escalation.params[key] ?? context.subject)}: ${context.escalationReason ?? 'not resolved'}` } };
          },
        },
      },
    },
  });
}

/** The incident state of a state of this family. */
export function fanoutVerifyIncidentState(state: string): IncidentState {
  if (state === 'verifying') return 'verifying';
  if (state === 'resolved' || state === 'escalated') return state;
  return 'remediating';
}

/** The pure plan step: (persisted snapshot, event) → (new snapshot, commands). Plans live in knowledge, not memory. */
import { initialTransition, transition, type AnyStateMachine } from 'xstate';
import type { Playbook } from './playbooks/index.ts';
import type { ActionRequest, ExpireRequest, GuardOutcome, PlanEvent, StepResult, TimerRequest } from './types.ts';

type GuardFn = (args: unknown, params: unknown) => boolean;

/** A copy of the machine whose guards write what they decided into `record`. */
function recording(machine: AnyStateMachine, record: GuardOutcome[]): AnyStateMachine {
  const guards = (machine.implementations.guards ?? {}) as Record<string, GuardFn>;
  const wrapped: Record<string, GuardFn> = {};
  for (const [name, fn] of Object.entries(guards)) {
    wrapped[name] = (args, params) => {
      const result = fn(args, params);
      record.push({ name, result });
      return result;
    };
  }
  return machine.provide({ guards: wrapped as never });
}

function stateName(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function collect(
  playbook: Playbook,
  from: string,
  snapshot: { value: unknown; context: Record<string, unknown> },
  actions: Array<{ type: string; params?: unknown }>,
  guards: GuardOutcome[],
  machine: AnyStateMachine,
): StepResult {
  const to = stateName(snapshot.value);
  const ctx = snapshot.context;
  const evidence: Record<string, unknown> = {};
  for (const key of ['severity', 'severitySource', 'severitiesSeen', 'lastVerification', 'escalationReason', 'removal']) {
    if (ctx[key] !== undefined) evidence[key] = ctx[key];
  }
  return {
    snapshot: machine.getPersistedSnapshot(snapshot as never),
    from,
    to,
    incidentState: playbook.incidentState(to),
    actions: actions.filter((a) => a.type === 'request').map((a) => a.params as ActionRequest),
    timers: actions.filter((a) => a.type === 'arm').map((a) => a.params as TimerRequest),
    expire: actions.filter((a) => a.type === 'expire').map((a) => a.params as ExpireRequest),
    guards,
    evidence,
  };
}

/** Starts a plan: the initial snapshot and the commands of its first state. */
export function startPlan(playbook: Playbook, input: unknown): StepResult {
  const guards: GuardOutcome[] = [];
  const machine = recording(playbook.machine, guards);
  const [snapshot, actions] = initialTransition(machine, input as never);
  return collect(playbook, '(start)', snapshot as never, actions as never, guards, machine);
}

/** Applies one event to a persisted snapshot; unknown or unhandled events leave it unchanged with no commands. */
export function stepPlan(playbook: Playbook, persisted: unknown, event: PlanEvent): StepResult {
  const guards: GuardOutcome[] = [];
  const machine = recording(playbook.machine, guards);
  const restored = machine.resolveState(persisted as never);
  const from = stateName(restored.value);
  const [snapshot, actions] = transition(machine, restored, event as never);
  return collect(playbook, from, snapshot as never, actions as never, guards, machine);
}

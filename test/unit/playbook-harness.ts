// Drives a playbook through the pure plan step exactly as the loop does: every snapshot is
// persisted (JSON.stringify → JSON.parse) between steps, as knowledge stores it.
import { loadPack, mergeDeep, type Pack } from '../../src/config.ts';
import { playbooks, type Playbook } from '../../src/plan/playbooks/index.ts';
import { startPlan, stepPlan } from '../../src/plan/step.ts';
import type { PlanEvent, StepResult } from '../../src/plan/types.ts';

/** The shipped pack, with overrides merged. */
export function pack(overrides: unknown = {}): Pack {
  return loadPack(undefined, false, mergeDeep({}, overrides));
}

export const ok = (step: string, result: Record<string, unknown> = {}): PlanEvent => ({ type: 'action.succeeded', step, actionId: `act-${step}`, result });
export const failed = (step: string, error = 'HTTP 500'): PlanEvent => ({ type: 'action.failed', step, actionId: `act-${step}`, error });
export const timer = (name: string): PlanEvent => ({ type: 'timer.fired', name });
export const rejected = (step: string, by = 'bob'): PlanEvent => ({ type: 'approval.rejected', step, actionId: `act-${step}`, by });
export const acked = (by = 'alice'): PlanEvent => ({ type: 'incident.acknowledged', by });
export const resolvedFinding = (name = 'X'): PlanEvent => ({ type: 'finding.resolved', findingId: 'fnd-1', name });
export const added = (name = 'X'): PlanEvent => ({ type: 'finding.added', findingId: `fnd-${Math.random()}`, name, status: 'firing' });

/** One plan, stepped one event at a time with a JSON round trip in between. */
export class Plan {
  snapshot: unknown;
  last: StepResult;
  readonly playbook: Playbook;
  readonly history: StepResult[] = [];

  constructor(name: string, labels: Record<string, string>, opts: { pack?: Pack; subject?: Record<string, string>; recentIncidents?: number } = {}) {
    this.playbook = playbooks[name]!;
    const p = opts.pack ?? pack();
    const subject = opts.subject ?? {};
    this.last = startPlan(this.playbook, JSON.parse(JSON.stringify(this.playbook.input(p, { labels, subject, recentIncidents: opts.recentIncidents ?? 0 }))));
    this.history.push(this.last);
    this.snapshot = JSON.parse(JSON.stringify(this.last.snapshot));
  }

  send(event: PlanEvent): StepResult {
    this.last = stepPlan(this.playbook, this.snapshot, event);
    this.history.push(this.last);
    this.snapshot = JSON.parse(JSON.stringify(this.last.snapshot));
    return this.last;
  }

  get state(): string {
    return this.last.to;
  }

  get context(): Record<string, unknown> {
    return (this.snapshot as { context: Record<string, unknown> }).context;
  }
}

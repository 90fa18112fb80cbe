/** Small readers of plan events shared by the Charter playbooks. */
import type { PlanEvent } from '../../types.ts';

/** The step an action event is about, if any. */
export function stepOf(event: PlanEvent): string | undefined {
  return 'step' in event ? event.step : undefined;
}

/** The result of a successful action, or undefined. */
export function resultOf(event: PlanEvent): Record<string, unknown> | undefined {
  return event.type === 'action.succeeded' ? event.result : undefined;
}

/** The error of a failed action, or undefined. */
export function errorOf(event: PlanEvent): string | undefined {
  return event.type === 'action.failed' ? event.error : undefined;
}

/** The records of a `charter.read` answer (`{items: [...]}`); anything else is no records. */
export function itemsOf(event: PlanEvent): Array<Record<string, unknown>> {
  const items = resultOf(event)?.items;
  return Array.isArray(items) ? items.filter((i): i is Record<string, unknown> => typeof i === 'object' && i !== null) : [];
}

/** The name of a fired timer, or undefined. */
export function timerOf(event: PlanEvent): string | undefined {
  return event.type === 'timer.fired' ? event.name : undefined;
}

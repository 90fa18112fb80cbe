/** A playbook's statechart as plain data (states and transitions), for drawing it with the current state marked. */
import { playbooks } from './playbooks/index.ts';

/** One transition: from a state, on an event, guarded, to a state (self when `to` equals `from`). */
export interface ChartTransition {
  from: string;
  event: string;
  to: string;
  guard?: string;
}

/** The chart of one machine. */
export interface Chart {
  id: string;
  initial: string;
  states: Array<{ name: string; final: boolean }>;
  transitions: ChartTransition[];
}

interface NodeLike {
  key: string;
  type: string;
  initial?: { target: Array<{ key: string }> };
  states: Record<string, NodeLike>;
  transitions: Map<string, Array<{ eventType: string; target?: Array<{ key: string }>; guard?: unknown }>>;
  always?: Array<{ target?: Array<{ key: string }>; guard?: unknown }>;
}

function guardName(g: unknown): string | undefined {
  if (g === undefined || g === null) return undefined;
  if (typeof g === 'string') return g;
  const inner = (g as { guards?: unknown[] }).guards;
  if (typeof g === 'function' && Array.isArray(inner)) return `${g.name || 'guard'}(${inner.map((x) => guardName(x) ?? '?').join(', ')})`;
  if (typeof g === 'function') return g.name || 'guard';
  return (g as { type?: string }).type ?? 'guard';
}

/** The chart of a machine by id (`critical-violation`), or null. */
export function machineChart(id: string): Chart | null {
  const playbook = Object.values(playbooks).find((p) => p.machine.id === id || p.name === id);
  if (!playbook) return null;
  const root = playbook.machine.root as unknown as NodeLike;
  const transitions: ChartTransition[] = [];
  const states = Object.values(root.states).map((s) => ({ name: s.key, final: s.type === 'final' || (s.transitions.size === 0 && !s.always?.length) }));
  const add = (from: string, event: string, list: Array<{ target?: Array<{ key: string }>; guard?: unknown }>) => {
    for (const t of list) transitions.push({ from, event, to: t.target?.[0]?.key ?? from, guard: guardName(t.guard) });
  };
  for (const s of Object.values(root.states)) {
    for (const [event, list] of s.transitions) add(s.key, event, list);
    if (s.always) add(s.key, '(always)', s.always);
  }
  // Root-level handlers apply in every state.
  for (const [event, list] of root.transitions) add('*', event, list);
  return { id: playbook.machine.id, initial: root.initial?.target[0]?.key ?? Object.keys(root.states)[0]!, states, transitions };
}

/** The playbooks mapek can run; adding one is one folder and one line here. */
import { criticalViolationInput, criticalViolationRoute } from './critical-violation/input.ts';
import { criticalViolationMachine } from './critical-violation/machine.ts';
import type { Playbook } from './types.ts';

export type { Playbook, PlanStart } from './types.ts';

/** Every playbook, by name. */
export const playbooks: Record<string, Playbook> = {
  'critical-violation': {
    name: 'critical-violation',
    machine: criticalViolationMachine,
    incidentState: (v) =>
      v === 'verifying' ? 'verifying' : v === 'resolved' ? 'resolved' : v === 'escalated' ? 'escalated' : 'remediating',
    route: criticalViolationRoute,
    input: criticalViolationInput,
  },
};

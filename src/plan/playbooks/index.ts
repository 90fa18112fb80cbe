/** The playbooks mapek can run; adding one is one folder and one line here. */
import type { AnyStateMachine } from 'xstate';
import type { IncidentState } from '../types.ts';
import { criticalViolationMachine } from './critical-violation/machine.ts';

/** A playbook: its machine and how its states read as incident states. */
export interface Playbook {
  name: string;
  machine: AnyStateMachine;
  incidentState(stateValue: string): IncidentState;
}

/** Every playbook, by name. */
export const playbooks: Record<string, Playbook> = {
  'critical-violation': {
    name: 'critical-violation',
    machine: criticalViolationMachine,
    incidentState: (v) =>
      v === 'verifying' ? 'verifying' : v === 'resolved' ? 'resolved' : v === 'escalated' ? 'escalated' : 'remediating',
  },
};

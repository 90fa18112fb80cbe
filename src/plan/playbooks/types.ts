/** The playbook port: a machine, how the pack routes findings to it, and how a plan starts. */
import type { AnyStateMachine } from 'xstate';
import type { Pack } from '../../config.ts';
import type { IncidentState } from '../types.ts';

/** What the loop knows when an incident's plan starts. */
export interface PlanStart {
  /** The labels of the finding that opened the incident (alert or sensor). */
  labels: Record<string, string>;
  /** The incident's subject labels. */
  subject: Record<string, string>;
  /** Earlier incidents of this playbook on this subject within the pack's flap window. */
  recentIncidents: number;
}

/** A playbook: one folder under plan/playbooks and one line in its index. */
export interface Playbook {
  name: string;
  machine: AnyStateMachine;
  incidentState(stateValue: string): IncidentState;
  /** Alerts that open this playbook and the labels naming its subject; null when the pack routes none. */
  route(pack: Pack): { alertnames: string[]; subjectLabels: string[] } | null;
  /** The machine's input for a new plan. */
  input(pack: Pack, start: PlanStart): unknown;
}

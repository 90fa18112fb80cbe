/** Every actuator, by action type; adding one is one file and one line. */
import type { ActionType } from '../../plan/types.ts';
import { charterActuator, charterReadActuator } from './charter.ts';
import { emailActuator } from './email.ts';
import { httpCallActuator } from './http-call.ts';
import { pagerDutyActuator } from './pagerduty.ts';
import { slackActuator } from './slack.ts';
import { pageActuator } from './page.ts';
import { severityActuator, verifyActuator } from './prometheus.ts';
import type { Actuator } from './types.ts';

/** Actuators by the action types plans ask for. */
export const actuators: Record<ActionType, Actuator> = {
  'charter.investigation': charterActuator,
  'charter.quarantine': charterActuator,
  'charter.revocation': charterActuator,
  'charter.notification': charterActuator,
  'prometheus.severity': severityActuator,
  'prometheus.verify': verifyActuator,
  page: pageActuator,
  'slack.message': slackActuator,
  'pagerduty.event': pagerDutyActuator,
  'email.message': emailActuator,
  'http.call': httpCallActuator,
  'charter.policy_reload': charterActuator,
  'charter.investigation_hold': charterActuator,
  'charter.override_revoke': charterActuator,
  'charter.read': charterReadActuator,
};

/** Action types that only read: they run even in dry-run. */
export const READ_ONLY: ReadonlySet<string> = new Set(['prometheus.severity', 'prometheus.verify', 'charter.read']);

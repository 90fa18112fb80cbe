/** The Charter actuator API (CHARTER.md): one call per action, with the action's Idempotency-Key. */
import type { Actuator } from './types.ts';
import { callJson } from './http.ts';

const PATHS: Record<string, string> = {
  'charter.investigation': '/api/investigations',
  'charter.quarantine': '/api/quarantines',
  'charter.revocation': '/api/revocations',
  'charter.notification': '/api/committee/notifications',
};

/** Calls the Charter (or the simulator) at CHARTER_URL. */
export const charterActuator: Actuator = async (action, ctx) => {
  const path = PATHS[action.type];
  if (!path) throw new Error(`no Charter call for action type ${action.type}`);
  const { status, body } = await callJson('POST', ctx.charterUrl + path, action.params, { idempotencyKey: action.idempotencyKey, timeoutMs: ctx.timeoutMs });
  return { status, response: body };
};

/** The Charter actuator API (CHARTER.md): one call per action, with the action's Idempotency-Key. */
import { PermanentActionError } from '../../errors.ts';
import type { Actuator } from './types.ts';
import { callJson } from './http.ts';

const PATHS: Record<string, string> = {
  'charter.investigation': '/api/investigations',
  'charter.quarantine': '/api/quarantines',
  'charter.revocation': '/api/revocations',
  'charter.notification': '/api/committee/notifications',
  'charter.policy_reload': '/api/policy/reload',
  'charter.investigation_hold': '/api/investigations/:id/hold',
  'charter.override_revoke': '/api/overrides/:id/revoke',
};

/** The collections `charter.read` may list (CHARTER.md: every collection can be listed with GET). */
const READABLE = new Set(['/api/quarantines', '/api/revocations', '/api/investigations', '/api/overrides', '/api/committee/notifications', '/api/policy/reloads']);

/** The path of a call, with `:id` filled from `params.id`; the id travels in the path, not the body. */
function callOf(type: string, params: Record<string, unknown>): { path: string; body: Record<string, unknown> } {
  const template = PATHS[type];
  if (!template) throw new PermanentActionError(`no Charter call for action type ${type}`);
  if (!template.includes(':id')) return { path: template, body: params };
  const { id, ...body } = params;
  if (typeof id !== 'string' || id === '') throw new PermanentActionError(`${type}: params.id is required`);
  return { path: template.replace(':id', encodeURIComponent(id)), body };
}

/** Calls the Charter (or the simulator) at CHARTER_URL. */
export const charterActuator: Actuator = async (action, ctx) => {
  const { path, body } = callOf(action.type, action.params);
  const { status, body: response } = await callJson('POST', ctx.charterUrl + path, body, { idempotencyKey: action.idempotencyKey, timeoutMs: ctx.timeoutMs });
  return { status, response };
};

/**
 * `charter.read` {path, createdWithin?}: lists one Charter collection (`/api/revocations?status=pending`).
 * Read-only, so it runs in dry-run and under the brake. `createdWithin` (ms) keeps the records made
 * that recently, judged here at the edge where the clock is.
 */
export const charterReadActuator: Actuator = async (action, ctx) => {
  const path = String(action.params.path ?? '');
  const url = new URL(path, 'http://charter.invalid');
  if (!path.startsWith('/api/') || !READABLE.has(url.pathname)) throw new PermanentActionError(`charter.read: ${path.slice(0, 200)} is not a Charter collection`);
  const { status, body } = await callJson('GET', ctx.charterUrl + url.pathname + url.search, undefined, { idempotencyKey: action.idempotencyKey, timeoutMs: ctx.timeoutMs });
  const all = Array.isArray((body as { items?: unknown } | null)?.items) ? ((body as { items: Array<Record<string, unknown>> }).items) : [];
  const within = Number(action.params.createdWithin);
  const since = Number.isFinite(within) && within > 0 ? Date.now() - within : undefined;
  const items = since === undefined ? all : all.filter((r) => Date.parse(String(r.created_at)) >= since);
  return { status, path: url.pathname + url.search, count: items.length, items };
};

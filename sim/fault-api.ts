/** `/faults`: inject, list and clear the simulator's faults. Never slowed or failed by them. */
import type { FastifyInstance } from 'fastify';
import type { SimulatedCharter } from './charter.ts';
import { FAULT_KINDS, FAULT_SCHEMAS, isFaultKind, type ActiveFault } from './faults.ts';
import { describeIssues } from './http.ts';

/** A fault as the API shows it: the posted fields with defaults, plus id, created_at and progress. */
export function faultView(fault: ActiveFault, charter: SimulatedCharter): Record<string, unknown> {
  const { kind, ...params } = fault.spec;
  const view: Record<string, unknown> = { id: fault.id, kind, ...params, created_at: new Date(fault.createdAtMs).toISOString() };
  if ('rate_per_s' in params) {
    view['rate_per_min'] = params.rate_per_s * 60;
    view['emitted'] = fault.emitted;
  }
  if (fault.spec.kind === 'violation_burst') view['emitting'] = !charter.isBlocked(fault.spec.node_or_service);
  if (fault.spec.kind === 'actuator_errors') {
    if (fault.remaining !== undefined) view['remaining'] = fault.remaining;
    if (fault.spec.duration_ms !== undefined) view['expires_at'] = new Date(fault.createdAtMs + fault.spec.duration_ms).toISOString();
  }
  if (fault.owned.length > 0) view['records'] = [...fault.owned];
  return view;
}

/** Registers POST/GET/DELETE /faults and DELETE /faults/:kind (or a fault's id). */
export function registerFaultApi(app: FastifyInstance, charter: SimulatedCharter): void {
  app.post('/faults', async (req, reply) => {
    const body = req.body;
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      return reply.code(400).send({ error: 'body: expected a JSON object with a "kind"' });
    }
    const kind = (body as { kind?: unknown }).kind;
    if (!isFaultKind(kind)) {
      return reply.code(400).send({ error: `kind: unknown fault kind ${JSON.stringify(kind ?? null)} (known: ${FAULT_KINDS.join(', ')})` });
    }
    const parsed = FAULT_SCHEMAS[kind].safeParse(body);
    if (!parsed.success) return reply.code(400).send({ error: describeIssues(parsed.error.issues) });
    const fault = charter.addFault(parsed.data);
    return reply.code(201).send(faultView(fault, charter));
  });

  app.get('/faults', async () => ({ items: charter.faults.list().map((f) => faultView(f, charter)) }));

  app.delete('/faults', async () => ({ cleared: charter.faults.removeWhere(() => true) }));

  app.delete('/faults/:which', async (req, reply) => {
    const { which } = req.params as { which: string };
    if (isFaultKind(which)) return { cleared: charter.faults.removeWhere((f) => f.spec.kind === which) };
    const cleared = charter.faults.removeWhere((f) => f.id === which);
    if (cleared === 0) return reply.code(404).send({ error: `no fault kind or fault id ${JSON.stringify(which)} (kinds: ${FAULT_KINDS.join(', ')})` });
    return { cleared };
  });
}

/** The Charter's actuator API (CHARTER.md): the calls mapek makes, their collections, idempotency and actuator faults. */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { CharterCollections, CharterRecord, SimulatedCharter } from './charter.ts';
import { canonicalJson, pause, type IdempotencyLedger, type StoredAnswer } from './idempotency.ts';
import { describeIssues } from './http.ts';
import { CHARTER_SEVERITIES } from './metrics.ts';

const name = z.string().min(1).max(200);
const text = z.string().min(1).max(10_000);

const quarantineBody = z.looseObject({ node_or_service: name, metric_name: name.optional(), reason: text });
const revocationBody = z.looseObject({ node_or_service: name, reason: name, scope: name });
const investigationBody = z.looseObject({
  violation_type: name,
  node_or_service: name,
  initiated_by: name,
  severity: z.enum(CHARTER_SEVERITIES).optional(),
});
const notificationBody = z.looseObject({
  severity: name,
  summary: text,
  recipients: z.union([z.array(name).min(1), z.number().int().positive()]),
  node_or_service: name.optional(),
});
const annotatedBody = z
  .looseObject({ by: name.optional(), reason: text.optional(), minutes: z.number().positive().max(7 * 24 * 60).optional() })
  .optional()
  .transform((b) => b ?? {});
const noBody = z.looseObject({}).optional();

/** What the actuator routes need. */
export interface ActuatorApiDeps {
  charter: SimulatedCharter;
  ledger: IdempotencyLedger;
  /** Aborted on close, so delayed answers stop waiting. */
  signal: AbortSignal;
}

interface ActuatorRoute<B> {
  method: 'POST' | 'DELETE';
  url: string;
  body: z.ZodType<B, unknown>;
  /** The node the call is about, for node-scoped actuator faults. */
  node: (body: B, id: string | undefined) => string | undefined;
  effect: (body: B, id: string | undefined, key: string) => StoredAnswer;
}

const notFound = (what: string, id: string | undefined): StoredAnswer => ({ status: 404, body: { error: `no ${what} with id ${id ?? ''}` } });

/** Registers the actuator calls and the collection listings under /api. */
export function registerActuatorApi(app: FastifyInstance, deps: ActuatorApiDeps): void {
  const { charter } = deps;
  const route = <B>(r: ActuatorRoute<B>): void => registerActuatorRoute(app, deps, r);

  route({
    method: 'POST', url: '/api/quarantines', body: quarantineBody,
    node: (b) => b.node_or_service,
    effect: (b, _id, key) => ({ status: 201, body: charter.quarantine(b, key) }),
  });
  route({
    method: 'DELETE', url: '/api/quarantines/:id', body: noBody,
    node: (_b, id) => charter.nodeOfRecord('quarantines', id ?? ''),
    effect: (_b, id, key) => {
      const record = charter.liftQuarantine(id ?? '', key);
      return record ? { status: 200, body: record } : notFound('quarantine', id);
    },
  });
  route({
    method: 'POST', url: '/api/revocations', body: revocationBody,
    node: (b) => b.node_or_service,
    effect: (b, _id, key) => {
      const record = charter.revoke(b, key);
      return { status: record.status === 'pending' ? 202 : 201, body: record };
    },
  });
  route({
    method: 'DELETE', url: '/api/revocations/:id', body: noBody,
    node: (_b, id) => charter.nodeOfRecord('revocations', id ?? ''),
    effect: (_b, id, key) => {
      const record = charter.restore(id ?? '', key);
      return record ? { status: 200, body: record } : notFound('revocation', id);
    },
  });
  route({
    method: 'POST', url: '/api/investigations', body: investigationBody,
    node: (b) => b.node_or_service,
    effect: (b, _id, key) => ({ status: 201, body: charter.openInvestigation(b, key) }),
  });
  route({
    method: 'POST', url: '/api/investigations/:id/hold', body: annotatedBody,
    node: (_b, id) => charter.nodeOfRecord('investigations', id ?? ''),
    effect: (b, id, key) => {
      const record = charter.holdInvestigation(id ?? '', b, key);
      return record ? { status: 200, body: record } : notFound('investigation', id);
    },
  });
  route({
    method: 'POST', url: '/api/overrides/:id/revoke', body: annotatedBody,
    node: (_b, id) => charter.nodeOfRecord('overrides', id ?? ''),
    effect: (b, id, key) => {
      const record = charter.revokeOverride(id ?? '', b, key);
      return record ? { status: 200, body: record } : notFound('override', id);
    },
  });
  route({
    method: 'POST', url: '/api/overrides/:id/extend', body: annotatedBody,
    node: (_b, id) => charter.nodeOfRecord('overrides', id ?? ''),
    effect: (b, id, key) => {
      const record = charter.extendOverride(id ?? '', b, key);
      return record ? { status: 200, body: record } : notFound('override', id);
    },
  });
  route({
    method: 'POST', url: '/api/policy/reload', body: noBody,
    node: () => undefined,
    effect: (_b, _id, key) => ({ status: 201, body: charter.reloadPolicy(key) }),
  });
  route({
    method: 'POST', url: '/api/committee/notifications', body: notificationBody,
    node: (b) => b.node_or_service,
    effect: (b, _id, key) => ({ status: 201, body: charter.notifyCommittee(b, key) }),
  });

  const listings: Array<[string, keyof CharterCollections, string]> = [
    ['/api/quarantines', 'quarantines', 'quarantine'],
    ['/api/revocations', 'revocations', 'revocation'],
    ['/api/investigations', 'investigations', 'investigation'],
    ['/api/overrides', 'overrides', 'override'],
    ['/api/committee/notifications', 'notifications', 'notification'],
    ['/api/policy/reloads', 'reloads', 'policy reload'],
  ];
  for (const [url, collection, what] of listings) {
    // Any query parameter filters on the field of that name (?status=pending, ?node_or_service=...).
    app.get(url, async (req) => {
      const filters = Object.entries(req.query as Record<string, unknown>).filter(
        (entry): entry is [string, string] => typeof entry[1] === 'string',
      );
      const items = (charter.records[collection] as CharterRecord[]).filter((r) =>
        filters.every(([field, value]) => r[field] !== undefined && String(r[field]) === value),
      );
      return { items };
    });
    app.get(`${url}/:id`, async (req, reply) => {
      const { id } = req.params as { id: string };
      const record = (charter.records[collection] as CharterRecord[]).find((r) => r.id === id);
      return record ?? reply.code(404).send({ error: `no ${what} with id ${id}` });
    });
  }
}

/**
 * One actuator call: key required, body validated, key reserved (replay, 409, 422),
 * then the actuator faults (503 with no effect and the key released; or the effect at
 * once and a late answer), then the answer stored under the key.
 */
function registerActuatorRoute<B>(app: FastifyInstance, deps: ActuatorApiDeps, r: ActuatorRoute<B>): void {
  const { charter, ledger, signal } = deps;
  app.route({
    method: r.method,
    url: r.url,
    handler: async (req, reply) => {
      const header = req.headers['idempotency-key'];
      const key = Array.isArray(header) ? header[0] : header;
      if (key === undefined || key.trim() === '') return reply.code(400).send({ error: 'Idempotency-Key header is required' });

      const parsed = r.body.safeParse(req.body);
      if (!parsed.success) return reply.code(400).send({ error: describeIssues(parsed.error.issues) });
      const id = (req.params as { id?: string }).id;

      const claim = await ledger.claim(key, `${r.method} ${req.url} ${canonicalJson(req.body ?? null)}`);
      switch (claim.kind) {
        case 'replay':
          return reply.code(claim.answer.status).header('idempotent-replayed', 'true').send(claim.answer.body);
        case 'mismatch':
          return reply.code(422).send({ error: 'Idempotency-Key was already used for a different request (method, path or body)' });
        case 'in_flight':
          return reply.code(409).send({ error: 'request with this Idempotency-Key is in flight' });
        case 'reserved':
          break;
      }

      const node = r.node(parsed.data, id);
      const now = charter.deps.now();
      if (charter.faults.takeActuatorError(node, now)) {
        claim.release();
        return reply.code(503).header('retry-after', '1').send({ error: 'Charter unavailable (injected fault actuator_errors)' });
      }
      let answer: StoredAnswer;
      try {
        answer = r.effect(parsed.data, id, key);
      } catch (err) {
        claim.release();
        throw err;
      }
      const delayMs = charter.faults.actuatorDelayMs(node);
      if (delayMs > 0) await pause(delayMs, signal);
      // Serialize once, so the replay is the same bytes even if the record changes later.
      const stored: StoredAnswer = { status: answer.status, body: JSON.parse(JSON.stringify(answer.body)) as unknown };
      claim.complete(stored);
      return reply.code(stored.status).send(stored.body);
    },
  });
}

/** The Fastify app: webhook intake, inspection API, /metrics and health. */
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { Queue } from 'bullmq';
import Fastify, { type FastifyError } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import { UnavailableError, ValidationError, withDeadline } from '../errors.ts';
import { ApprovalError, type ActionRecord, type KnowledgeStore } from '../knowledge/store.ts';
import { z } from 'zod';
import type { LoopMetrics } from '../metrics.ts';
import { observationsFromWebhook, parseWebhook } from '../monitor/alertmanager.ts';
import { adminMatches, bearerMatches } from './auth.ts';
import { renderIndexPage, UI_HEADERS, uiAsset } from './page.ts';
import { parseDuration } from '../clock.ts';
import { machineChart } from '../plan/chart.ts';

/** What the app needs from the rest of the process. */
export interface AppDeps {
  config: Config;
  store: KnowledgeStore;
  metrics: LoopMetrics;
  log: Logger;
  /** Wakes analyze for new observations; failures are the reconciler's to repair. */
  onObservations(ids: string[]): void;
  /** Dependency checks for /readyz. */
  checks: Record<string, () => Promise<void>>;
  /** Wakes the plan of an incident after an approval decision, and a newly approved action. */
  onApprovalDecided(action: ActionRecord, quorumReached: boolean): void;
  /** Wakes the plan of an acknowledged incident. */
  onAcknowledged(incidentId: string): void;
  /** Committee members who count toward a quorum (empty: any non-empty name). */
  members: string[];
  /** Queues shown by Bull Board at /admin/queues. */
  boardQueues?: Queue[];
  /** The last outcome of each sensor, shown on /readyz (not gating it). */
  sensors?: () => Record<string, unknown>;
  /** Checks shown on /readyz that do not gate readiness (Prometheus). */
  infoChecks?: Record<string, () => Promise<void>>;
}

const COMMIT_DEADLINE_MS = 4000;

/** A page size from the query string: absent, or a positive integer; anything else is a 400 naming it. */
function parseLimit(value: unknown): number | undefined {
  if (value === undefined || value === '') return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new ValidationError(`limit: expected a positive integer, got "${String(value)}"`, 'limit');
  return n;
}

function labelFilters(q: unknown): Array<[string, string]> {
  const raw = q === undefined ? [] : Array.isArray(q) ? q : [q];
  return raw.map((item) => {
    const text = String(item);
    const i = text.indexOf('=');
    if (i <= 0) throw new ValidationError(`label filter "${text}" must be k=v`, 'label');
    return [text.slice(0, i), text.slice(i + 1)] as [string, string];
  });
}

async function check(fn: () => Promise<void>): Promise<{ ok: boolean; error?: string }> {
  try {
    await withDeadline('check', 1500, fn());
    return { ok: true };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
}

/** Builds the app (not listening): routes, error mapping, and the webhook's durable-before-202 path. */
export function buildApp(deps: AppDeps) {
  const { config, store, metrics } = deps;
  // Per-request logs stay below warn: a busy webhook would drown the loop's own log lines.
  const app = Fastify({ loggerInstance: deps.log.child({ component: 'http' }, { level: deps.log.level === 'silent' ? 'silent' : 'warn' }), bodyLimit: config.bodyLimit });

  app.setErrorHandler((err: FastifyError, req, reply) => {
    const isWebhook = req.url.startsWith('/webhooks/');
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      // Alertmanager never retries a 413: say so loudly.
      req.log.error({ url: req.url, limit: config.bodyLimit }, 'webhook body over the size limit: Alertmanager will not retry it; lower max_alerts or raise MAPEK_WEBHOOK_BODY_LIMIT');
      return reply.code(413).send({ error: `body larger than ${config.bodyLimit} bytes` });
    }
    if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return reply.code(415).send({ error: `unsupported content type ${req.headers['content-type'] ?? '(none)'}: send application/json` });
    if (err instanceof ValidationError) return reply.code(400).send({ error: err.message, field: err.field });
    if (err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || err.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || err instanceof SyntaxError || err.statusCode === 400) {
      return reply.code(400).send({ error: `malformed JSON body: ${err.message}` });
    }
    if (err instanceof UnavailableError) return reply.code(503).send({ error: err.message });
    if (err instanceof ApprovalError) return reply.code({ missing: 404, conflict: 409, invalid: 400 }[err.kind]).send({ error: err.message });
    req.log.error({ err }, 'request failed');
    // For the webhook an internal failure means "not kept": 503 so Alertmanager retries.
    return reply.code(isWebhook ? 503 : 500).send({ error: isWebhook ? 'could not keep the notification; retry' : 'internal error' });
  });

  app.addHook('onResponse', async (req, reply) => {
    // By path, not route: a 413 or 415 is answered before routing completes.
    if (req.url.startsWith('/webhooks/alertmanager')) metrics.webhookRequests.inc({ code: String(reply.statusCode) });
  });

  const requireAdmin = async (req: { headers: Record<string, string | string[] | undefined> }, reply: { code(n: number): { send(b: unknown): unknown }; header(k: string, v: string): unknown }) => {
    if (!config.adminToken) return;
    if (!adminMatches(req.headers.authorization as string | undefined, config.adminToken)) {
      reply.header('www-authenticate', 'Basic realm="mapek"');
      return reply.code(401).send({ error: 'admin token required (bearer, or the basic-auth password)' });
    }
  };

  app.post('/webhooks/alertmanager', async (req, reply) => {
    const type = String(req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== 'application/json') {
      return reply.code(415).send({ error: `unsupported content type ${type || '(none)'}: send application/json` });
    }
    if (config.webhookToken && !bearerMatches(req.headers.authorization, config.webhookToken)) {
      return reply.code(401).send({ error: 'missing or wrong bearer token' });
    }
    const payload = parseWebhook(req.body);
    if (payload.truncatedAlerts > 0) {
      metrics.webhookTruncatedAlerts.inc(payload.truncatedAlerts);
      req.log.warn({ truncatedAlerts: payload.truncatedAlerts, groupKey: payload.groupKey }, 'Alertmanager truncated this notification');
    }
    const observations = observationsFromWebhook(payload);
    let result: { inserted: string[]; duplicates: number };
    try {
      result = await withDeadline('knowledge store', COMMIT_DEADLINE_MS, store.recordObservations(observations));
    } catch (err) {
      req.log.error({ err: (err as Error).message }, 'webhook not kept: knowledge store unavailable');
      throw new UnavailableError(`knowledge store unavailable: ${(err as Error).message}`);
    }
    metrics.observations.inc({ source: 'alertmanager' }, result.inserted.length);
    metrics.observationsDeduplicated.inc({ source: 'alertmanager' }, result.duplicates);
    if (result.inserted.length) deps.onObservations(result.inserted);
    return reply.code(202).send({ accepted: result.inserted.length, duplicates: result.duplicates });
  });

  app.get('/api/incidents', { preHandler: requireAdmin }, async (req) => {
    const q = req.query as Record<string, unknown>;
    return store.listIncidents({
      state: typeof q.state === 'string' ? q.state : undefined,
      labels: labelFilters(q.label),
      cursor: typeof q.cursor === 'string' ? q.cursor : undefined,
      limit: parseLimit(q.limit),
    });
  });

  app.get('/api/incidents/:id', { preHandler: requireAdmin }, async (req, reply) => {
    const incident = await store.getIncident((req.params as { id: string }).id);
    if (!incident) return reply.code(404).send({ error: 'no such incident' });
    return incident;
  });

  app.get('/api/findings', { preHandler: requireAdmin }, async (req) => {
    const q = req.query as Record<string, string | undefined>;
    if (q.since && Number.isNaN(Date.parse(q.since))) throw new ValidationError(`since: not an ISO time: "${q.since}"`, 'since');
    return store.listFindings({ since: q.since ? new Date(q.since).toISOString() : undefined, name: q.name, limit: parseLimit(q.limit) });
  });

  app.get('/api/decisions', { preHandler: requireAdmin }, async (req, reply) => {
    const q = req.query as Record<string, string | undefined>;
    if (q.since && Number.isNaN(Date.parse(q.since))) throw new ValidationError(`since: not an ISO time: "${q.since}"`, 'since');
    const since = q.since ? new Date(q.since).toISOString() : undefined;
    if (q.format === 'jsonl') {
      const page = await store.listDecisions({ since, incident: q.incident, limit: 10_000 });
      reply.type('application/x-ndjson');
      return page.items.map((d) => JSON.stringify(d)).join('\n') + (page.items.length ? '\n' : '');
    }
    return store.listDecisions({ since, incident: q.incident, cursor: q.cursor, limit: parseLimit(q.limit) });
  });

  app.get('/api/decisions/:id', { preHandler: requireAdmin }, async (req, reply) => {
    const d = await store.getDecision((req.params as { id: string }).id);
    if (!d) return reply.code(404).send({ error: 'no such decision' });
    return d;
  });

  const DecisionBody = z.object({ by: z.string().trim().min(1, 'a member name is required'), comment: z.string().max(2000).optional() });
  for (const decision of ['approve', 'reject'] as const) {
    app.post(`/api/actions/:id/${decision}`, { preHandler: requireAdmin }, async (req) => {
      const body = DecisionBody.safeParse(req.body ?? {});
      if (!body.success) {
        const issue = body.error.issues[0]!;
        throw new ValidationError(`${issue.path.join('.') || 'body'}: ${issue.message}`, issue.path.join('.'));
      }
      const { action, quorumReached } = await store.decideApproval((req.params as { id: string }).id, decision, body.data.by, {
        comment: body.data.comment,
        members: deps.members,
      });
      deps.onApprovalDecided(action, quorumReached);
      return { action, quorumReached };
    });
  }

  app.post('/api/incidents/:id/acknowledge', { preHandler: requireAdmin }, async (req) => {
    const body = DecisionBody.safeParse(req.body ?? {});
    if (!body.success) throw new ValidationError(`${body.error.issues[0]!.path.join('.') || 'body'}: ${body.error.issues[0]!.message}`, body.error.issues[0]!.path.join('.'));
    const res = await store.acknowledge((req.params as { id: string }).id, body.data.by, body.data.comment);
    deps.onAcknowledged(res.incidentId);
    return res;
  });

  const PauseBody = z.object({ for: z.string().optional(), by: z.string().trim().min(1).optional(), reason: z.string().max(2000).optional() });
  app.post('/api/loop/pause', { preHandler: requireAdmin }, async (req) => {
    const body = PauseBody.safeParse(req.body ?? {});
    if (!body.success) throw new ValidationError(`${body.error.issues[0]!.path.join('.') || 'body'}: ${body.error.issues[0]!.message}`);
    let untilMs: number | undefined;
    if (body.data.for) {
      try {
        untilMs = Date.now() + parseDuration(body.data.for);
      } catch (err) {
        throw new ValidationError(`for: ${(err as Error).message}`, 'for');
      }
    }
    const state = await store.setPause({ paused: true, untilMs, by: body.data.by, reason: body.data.reason });
    metrics.paused.set(1);
    return state;
  });
  app.post('/api/loop/resume', { preHandler: requireAdmin }, async (req) => {
    const by = (req.body as { by?: unknown } | undefined)?.by;
    const state = await store.setPause({ paused: false, by: typeof by === 'string' ? by : undefined });
    metrics.paused.set(0);
    return state;
  });
  app.get('/api/loop', { preHandler: requireAdmin }, async () => ({ pause: await store.pauseState(), brake: await store.brakeState() }));
  app.post('/api/loop/brake/release', { preHandler: requireAdmin }, async (req) => {
    const body = (req.body ?? {}) as { by?: unknown; reason?: unknown };
    if (typeof body.by !== 'string' || !body.by.trim()) throw new ValidationError('by: a member name is required to release the brake', 'by');
    const state = await store.setBrake({ engaged: false, by: body.by.trim(), reason: typeof body.reason === 'string' ? body.reason : undefined });
    metrics.brakeEngaged.set(0);
    return state;
  });

  app.get('/api/machines/:id', { preHandler: requireAdmin }, async (req, reply) => {
    const chart = machineChart((req.params as { id: string }).id);
    if (!chart) return reply.code(404).send({ error: 'no such machine' });
    return chart;
  });

  app.get('/metrics', async (_req, reply) => {
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });

  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_req, reply) => {
    const results: Record<string, { ok: boolean; error?: string }> = {};
    for (const [name, fn] of Object.entries(deps.checks)) results[name] = await check(fn);
    const info: Record<string, { ok: boolean; error?: string }> = {};
    for (const [name, fn] of Object.entries(deps.infoChecks ?? {})) info[name] = await check(fn);
    const down = Object.entries(results).filter(([, r]) => !r.ok).map(([n]) => n);
    return reply.code(down.length ? 503 : 200).send({ status: down.length ? 'unavailable' : 'ready', down, checks: results, info, sensors: deps.sensors?.() ?? {} });
  });

  if (deps.boardQueues?.length) {
    const board = new FastifyAdapter();
    board.setBasePath('/admin/queues');
    createBullBoard({ queues: deps.boardQueues.map((q) => new BullMQAdapter(q, { readOnlyMode: false })), serverAdapter: board });
    void app.register(
      async (scope) => {
        scope.addHook('onRequest', requireAdmin);
        await scope.register(board.registerPlugin());
      },
      { prefix: '/admin/queues' },
    );
  }

  // The inspection page (src/api/ui/): the shell, its script and stylesheet, all behind the admin token.
  app.get('/', { preHandler: requireAdmin }, async (_req, reply) => {
    reply.headers(UI_HEADERS).type('text/html; charset=utf-8');
    return renderIndexPage();
  });
  app.get('/ui/:file', { preHandler: requireAdmin }, async (req, reply) => {
    const asset = uiAsset((req.params as { file: string }).file);
    if (!asset) return reply.code(404).send({ error: 'no such asset' });
    reply.headers(UI_HEADERS).type(asset.type);
    return asset.body;
  });

  return app;
}

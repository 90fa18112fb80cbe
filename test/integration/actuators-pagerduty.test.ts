// The PagerDuty Events v2 actuator against real loopback HTTP servers: the event that arrives, that
// a retried trigger keeps its dedup_key (one alert at PagerDuty), retry classification, and that
// the routing key never appears in an outcome or an error.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PermanentActionError } from '../../src/errors.ts';
import { pagerDutyActuator, pagerDutyEvent, type PagerDutyContext } from '../../src/execute/actuators/pagerduty.ts';
import { RetryableActionError } from '../../src/execute/actuators/types.ts';
import type { ActionRecord } from '../../src/knowledge/store.ts';
import { closedPort, scripted, type Reply, type Scripted, type Seen } from '../helpers/scripted-http.ts';
import { startHttpSink } from '../../src/stack/processes.ts';


function action(params: Record<string, unknown>, over: Partial<ActionRecord> = {}): ActionRecord {
  return {
    id: 'act_page1',
    incidentId: 'inc_42',
    step: 'page',
    iteration: 1,
    type: 'pagerduty.event',
    params,
    status: 'running',
    attempts: 1,
    idempotencyKey: 'mapek-inc_42-page-1',
    outcome: null,
    approvals: [],
    quorum: null,
    lastError: null,
    createdAt: '2030-01-01T00:00:00Z',
    updatedAt: '2030-01-01T00:00:00Z',
    ...over,
  };
}

const ROUTING_KEY = 'R0UTINGKEYsecret0123456789abcdef';
const base = { charterUrl: 'http://127.0.0.1:9', prometheusUrl: 'http://127.0.0.1:9', timeoutMs: 2000 };
const ctxFor = (url: string): PagerDutyContext => ({ ...base, pagerduty: { eventsUrl: `${url}/v2/enqueue`, routingKey: ROUTING_KEY, source: 'mapek-test' } });

async function failure(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected the call to fail');
}
const expectNoSecret = (x: unknown) => expect(x instanceof Error ? x.message : JSON.stringify(x)).not.toContain(ROUTING_KEY);

/** Answers like PagerDuty: 202 and the dedup_key; one alert per dedup_key; echoes the routing key on errors. */
function pagerDuty(alerts: Map<string, string>) {
  return (req: Seen): Reply => {
    const ev = JSON.parse(req.body) as { routing_key: string; event_action: string; dedup_key: string };
    if (ev.routing_key !== ROUTING_KEY) return { status: 400, body: JSON.stringify({ status: 'invalid event', message: 'Event object is invalid', errors: [`routing_key ${ev.routing_key} unknown`] }) };
    if (ev.event_action === 'trigger' && !alerts.has(ev.dedup_key)) alerts.set(ev.dedup_key, 'triggered');
    if (ev.event_action === 'resolve' && alerts.has(ev.dedup_key)) alerts.set(ev.dedup_key, 'resolved');
    return { status: 202, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ status: 'success', message: 'Event processed', dedup_key: ev.dedup_key }) };
  };
}

let srv: Scripted;
beforeAll(async () => {
  srv = await scripted();
});
afterAll(async () => {
  await srv.close();
});
afterEach(() => {
  srv.seen.length = 0;
});

describe('pagerduty actuator, delivered', () => {
  it('sends one trigger whose dedup_key is the idempotency key, with summary, severity, source and details', async () => {
    const alerts = new Map<string, string>();
    srv.reply = pagerDuty(alerts);
    const outcome = await pagerDutyActuator(action({ summary: 'Critical violation on n7', severity: 'critical', node_or_service: 'n7', component: 'charter' }), ctxFor(srv.url));
    expect(outcome).toEqual({
      sent: true,
      status: 202,
      eventAction: 'trigger',
      dedupKey: 'mapek-inc_42-page-1',
      response: { status: 'success', message: 'Event processed', dedup_key: 'mapek-inc_42-page-1' },
    });
    expect(srv.seen).toHaveLength(1);
    expect(srv.seen[0]!.path).toBe('/v2/enqueue');
    expect(srv.seen[0]!.headers['content-type']).toBe('application/json');
    expect(JSON.parse(srv.seen[0]!.body)).toEqual({
      routing_key: ROUTING_KEY,
      event_action: 'trigger',
      dedup_key: 'mapek-inc_42-page-1',
      client: 'mapek',
      payload: {
        summary: 'Critical violation on n7',
        severity: 'critical',
        source: 'mapek-test',
        component: 'charter',
        custom_details: { node_or_service: 'n7', incident: 'inc_42', step: 'page', idempotency_key: 'mapek-inc_42-page-1' },
      },
    });
    expectNoSecret(outcome);
  });

  it('a retried trigger (after a timeout) keeps its dedup_key: PagerDuty holds one alert', async () => {
    const alerts = new Map<string, string>();
    const answer = pagerDuty(alerts);
    srv.reply = (req, n) => (n === 1 ? { ...(answer(req) as object), status: 202, delayMs: 600 } : answer(req));
    const ctx = { ...ctxFor(srv.url), timeoutMs: 250 };
    expect(await failure(pagerDutyActuator(action({ summary: 's' }), ctx))).toBeInstanceOf(RetryableActionError);
    await pagerDutyActuator(action({ summary: 's' }, { attempts: 2 }), ctx);
    expect(srv.seen).toHaveLength(2);
    expect(new Set(srv.seen.map((r) => (JSON.parse(r.body) as { dedup_key: string }).dedup_key))).toEqual(new Set(['mapek-inc_42-page-1']));
    expect([...alerts.entries()]).toEqual([['mapek-inc_42-page-1', 'triggered']]);
  });

  it('resolves the alert of a trigger named by its key; a resolve without one is permanent', async () => {
    const alerts = new Map<string, string>();
    srv.reply = pagerDuty(alerts);
    await pagerDutyActuator(action({ summary: 's' }), ctxFor(srv.url));
    const resolve = action({ event_action: 'resolve', dedup_key: 'mapek-inc_42-page-1' }, { step: 'unpage', idempotencyKey: 'mapek-inc_42-unpage-1' });
    expect(await pagerDutyActuator(resolve, ctxFor(srv.url))).toMatchObject({ sent: true, eventAction: 'resolve', dedupKey: 'mapek-inc_42-page-1' });
    expect(JSON.parse(srv.seen[1]!.body)).toEqual({ routing_key: ROUTING_KEY, event_action: 'resolve', dedup_key: 'mapek-inc_42-page-1' });
    expect(alerts.get('mapek-inc_42-page-1')).toBe('resolved');
    const err = await failure(pagerDutyActuator(action({ event_action: 'resolve' }), ctxFor(srv.url)));
    expect(err).toBeInstanceOf(PermanentActionError);
    expect(srv.seen).toHaveLength(2);
  });

  it('works against the shared loopback sink (any 2xx is sent)', async () => {
    const sink = await startHttpSink();
    try {
      const viaSink: PagerDutyContext = { ...base, pagerduty: { eventsUrl: `${sink.url}/pagerduty`, routingKey: ROUTING_KEY } };
      const outcome = await pagerDutyActuator(action({ summary: 'via sink' }), viaSink);
      expect(outcome).toMatchObject({ sent: true, status: 200, response: 'ok' });
      expect(sink.requests).toHaveLength(1);
      expect(sink.requests[0]!.json).toMatchObject({ dedup_key: 'mapek-inc_42-page-1', payload: { summary: 'via sink', source: 'mapek', severity: 'critical' } });
    } finally {
      await sink.stop();
    }
  });

  it('records a page as not sent when no routing key is configured', async () => {
    expect(await pagerDutyActuator(action({ summary: 's' }), base)).toMatchObject({ sent: false, reason: expect.stringContaining('MAPEK_PAGERDUTY_ROUTING_KEY') });
    expect(srv.seen).toHaveLength(0);
  });
});

describe('pagerduty actuator, failures', () => {
  it('400 (invalid event) is permanent, and the routing key it echoes is masked', async () => {
    srv.reply = () => ({ status: 400, body: JSON.stringify({ status: 'invalid event', message: 'Event object is invalid', errors: [`routing_key ${ROUTING_KEY} is invalid`] }) });
    const err = await failure(pagerDutyActuator(action({ summary: 's' }), ctxFor(srv.url)));
    expect(err).toBeInstanceOf(PermanentActionError);
    expect(err.message).toContain('400');
    expect(err.message).toContain('Event object is invalid');
    expectNoSecret(err);
  });

  it('429 is retryable, honouring a Retry-After date', async () => {
    srv.reply = () => ({ status: 429, headers: { 'retry-after': new Date(Date.now() + 20_000).toUTCString() }, body: '{"status":"throttle event"}' });
    const err = await failure(pagerDutyActuator(action({ summary: 's' }), ctxFor(srv.url)));
    expect(err).toBeInstanceOf(RetryableActionError);
    expect((err as RetryableActionError).retryAfterMs).toBeGreaterThan(15_000);
    expect((err as RetryableActionError).retryAfterMs).toBeLessThanOrEqual(20_000);
  });

  it.each([
    [500, RetryableActionError],
    [502, RetryableActionError],
    [503, RetryableActionError],
    [401, PermanentActionError],
    [403, PermanentActionError],
    [404, PermanentActionError],
    [301, PermanentActionError],
  ])('%i is %o', async (status, kind) => {
    const headers: Record<string, string> = status === 301 ? { location: '/v2/elsewhere' } : {};
    srv.reply = () => ({ status, headers, body: `routing ${ROUTING_KEY}` });
    const err = await failure(pagerDutyActuator(action({ summary: 's' }), ctxFor(srv.url)));
    expect(err).toBeInstanceOf(kind);
    expectNoSecret(err);
    expect(srv.seen).toHaveLength(1);
  });

  it('a hanging endpoint is a retryable timeout; a refused connection is retryable', async () => {
    srv.reply = () => 'hang';
    expect(await failure(pagerDutyActuator(action({ summary: 's' }), { ...ctxFor(srv.url), timeoutMs: 200 }))).toBeInstanceOf(RetryableActionError);
    const port = await closedPort();
    const err = await failure(pagerDutyActuator(action({ summary: 's' }), ctxFor(`http://127.0.0.1:${port}`)));
    expect(err).toBeInstanceOf(RetryableActionError);
    expectNoSecret(err);
  });
});

describe('pagerDutyEvent', () => {
  const settings = { routingKey: ROUTING_KEY };
  it('sends an unknown severity as critical and keeps it in the details', () => {
    const ev = pagerDutyEvent(action({ summary: 's', severity: 'banned' }), settings) as { payload: { severity: string; custom_details: Record<string, unknown> } };
    expect(ev.payload.severity).toBe('critical');
    expect(ev.payload.custom_details.mapek_severity).toBe('banned');
  });

  it('masks secret-looking params copied into custom_details, and cuts the summary to 1024 characters', () => {
    const ev = pagerDutyEvent(action({ summary: 'x'.repeat(2000), api_token: 'tok123', note: `key ${ROUTING_KEY}` }), settings) as { payload: { summary: string; custom_details: Record<string, unknown> } };
    expect(ev.payload.summary).toHaveLength(1024);
    expect(ev.payload.custom_details.api_token).toBe('[REDACTED]');
    expect(JSON.stringify(ev.payload)).not.toContain(ROUTING_KEY);
  });

  it('refuses an unknown event_action', () => {
    expect(() => pagerDutyEvent(action({ event_action: 'delete' }), settings)).toThrow(PermanentActionError);
  });
});

// The generic HTTP call against real loopback HTTP servers: the request that arrives (method, path
// under the base, templated body and headers, Idempotency-Key), URLs and redirects that leave the
// bases refused before anything is sent, retry classification, and no secret in outcomes.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PermanentActionError } from '../../src/errors.ts';
import { httpCallActuator, RESPONSE_LIMIT, type HttpCallContext } from '../../src/execute/actuators/http-call.ts';
import { RetryableActionError } from '../../src/execute/actuators/types.ts';
import type { ActionRecord } from '../../src/knowledge/store.ts';
import { closedPort, scripted, type Reply, type Scripted, type Seen } from '../helpers/scripted-http.ts';
import { startHttpSink } from '../../src/stack/processes.ts';


function action(params: Record<string, unknown>, over: Partial<ActionRecord> = {}): ActionRecord {
  return {
    id: 'act_call1',
    incidentId: 'inc_42',
    step: 'restart',
    iteration: 1,
    type: 'http.call',
    params,
    status: 'running',
    attempts: 1,
    idempotencyKey: 'mapek-inc_42-restart-1',
    outcome: null,
    approvals: [],
    quorum: null,
    lastError: null,
    createdAt: '2030-01-01T00:00:00Z',
    updatedAt: '2030-01-01T00:00:00Z',
    ...over,
  };
}

const TOKEN = 'Bearer CONFIGUREDsecretTOKEN42';
const base = { charterUrl: 'http://127.0.0.1:9', prometheusUrl: 'http://127.0.0.1:9', timeoutMs: 2000 };

async function failure(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected the call to fail');
}
const expectNoSecret = (x: unknown, ...more: string[]) => {
  const text = x instanceof Error ? x.message : JSON.stringify(x);
  for (const s of ['CONFIGUREDsecretTOKEN42', ...more]) expect(text).not.toContain(s);
};

let srv: Scripted;
let other: Scripted;
let ctx: HttpCallContext;
beforeAll(async () => {
  srv = await scripted();
  other = await scripted();
  ctx = { ...base, http: { bases: [`${srv.url}/api`], headers: { Authorization: TOKEN } } };
});
afterAll(async () => {
  await srv.close();
  await other.close();
});
afterEach(() => {
  srv.seen.length = 0;
  other.seen.length = 0;
  srv.reply = () => ({ status: 200, body: 'ok' });
});

/** Echoes the request back as JSON, headers included (a server that leaks what it was sent). */
const echo = (req: Seen): Reply => ({ status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ got: req }) });

describe('http.call, delivered', () => {
  it('sends the method, the templated path under the base, headers and JSON body, with the Idempotency-Key', async () => {
    srv.reply = echo;
    const outcome = await httpCallActuator(
      action({
        method: 'POST',
        url: '/nodes/{{params.node}}/restart?reason={{params.reason}}',
        body: { node: '{{params.node}}', force: '{{params.force}}', note: 'by mapek for {{action.incidentId}}' },
        headers: { 'X-Request-Source': 'mapek/{{action.step}}' },
        node: 'node 7',
        reason: 'a&b',
        force: true,
      }),
      ctx,
    );
    expect(srv.seen).toHaveLength(1);
    const req = srv.seen[0]!;
    expect(req.method).toBe('POST');
    expect(req.path).toBe('/api/nodes/node%207/restart?reason=a%26b');
    expect(req.headers['idempotency-key']).toBe('mapek-inc_42-restart-1');
    expect(req.headers.authorization).toBe(TOKEN);
    expect(req.headers['x-request-source']).toBe('mapek/restart');
    expect(req.headers['content-type']).toBe('application/json');
    expect(JSON.parse(req.body)).toEqual({ node: 'node 7', force: true, note: 'by mapek for inc_42' });
    expect(outcome).toMatchObject({ status: 200, method: 'POST', url: `${srv.url}/api/nodes/node%207/restart?reason=a%26b`, redirects: 0 });
    // The server echoed the Authorization header: the outcome must not keep it.
    expect((outcome.response as { got: { headers: Record<string, string> } }).got.headers.authorization).toBe('[REDACTED]');
    expectNoSecret(outcome);
  });

  it('GET and DELETE without a body; an absolute URL under the base; a text answer', async () => {
    srv.reply = () => ({ status: 204 });
    expect(await httpCallActuator(action({ method: 'DELETE', url: `${srv.url}/api/leases/1` }), ctx)).toMatchObject({ status: 204, method: 'DELETE', response: '' });
    srv.reply = () => ({ status: 200, body: 'plain' });
    expect(await httpCallActuator(action({ method: 'GET', url: 'status' }), ctx)).toMatchObject({ status: 200, response: 'plain' });
    expect(srv.seen.map((r) => [r.method, r.path, r.body])).toEqual([
      ['DELETE', '/api/leases/1', ''],
      ['GET', '/api/status', ''],
    ]);
    expect(srv.seen.every((r) => r.headers['idempotency-key'] === 'mapek-inc_42-restart-1')).toBe(true);
  });

  it('the same action retried carries the same key, so an idempotent server applies it once', async () => {
    const effects = new Map<string, number>();
    srv.reply = (req, n) => {
      const key = String(req.headers['idempotency-key']);
      if (!effects.has(key)) effects.set(key, effects.size + 1);
      return n === 1 ? { status: 503, body: 'busy' } : { status: 201, body: JSON.stringify({ effect: effects.get(key) }) };
    };
    expect(await failure(httpCallActuator(action({ url: '/effects' }), ctx))).toBeInstanceOf(RetryableActionError);
    expect(await httpCallActuator(action({ url: '/effects' }, { attempts: 2 }), ctx)).toMatchObject({ status: 201, response: { effect: 1 } });
    expect(effects.size).toBe(1);
  });

  it('works against the shared loopback sink', async () => {
    const sink = await startHttpSink();
    try {
      const toSink: HttpCallContext = { ...base, http: { bases: [sink.url] } };
      await httpCallActuator(action({ url: '/hook', body: { a: '{{params.a}}' }, a: 1 }), toSink);
      expect(sink.requests).toHaveLength(1);
      expect(sink.requests[0]!.path).toBe('/hook');
      expect(sink.requests[0]!.json).toEqual({ a: 1 });
      expect(sink.requests[0]!.headers['idempotency-key']).toBe('mapek-inc_42-restart-1');
    } finally {
      await sink.stop();
    }
  });

  it('keeps at most 64 KiB of an answer', async () => {
    srv.reply = () => ({ status: 200, body: 'y'.repeat(RESPONSE_LIMIT * 3) });
    const outcome = await httpCallActuator(action({ url: '/big' }), ctx);
    expect(outcome.truncated).toBe(true);
    expect(JSON.stringify(outcome).length).toBeLessThan(RESPONSE_LIMIT);
  });
});

describe('http.call, outbound safety', () => {
  it.each([
    ['/../admin'],
    ['/x/../../admin'],
    ['/%2e%2e/admin'],
    ['..%2Fadmin'],
    ['//127.0.0.1/admin'],
    ['http://127.0.0.1:1/api/x'],
    ['https://evil.example/api'],
    ['file:///etc/passwd'],
    ['/items/{{params.id}}'],
  ])('refuses %j before sending anything', async (url) => {
    const err = await failure(httpCallActuator(action({ url, id: '../../admin' }), ctx));
    expect(err).toBeInstanceOf(PermanentActionError);
    expect(srv.seen).toHaveLength(0);
  });

  it('refuses a URL on another server, userinfo tricks included; that server sees nothing', async () => {
    const host = new URL(srv.url).host;
    for (const url of [`${other.url}/api/x`, `http://${host}@${new URL(other.url).host}/api/x`, `http://u:p@${host}/api/x`]) {
      expect(await failure(httpCallActuator(action({ url }), ctx))).toBeInstanceOf(PermanentActionError);
    }
    expect(other.seen).toHaveLength(0);
    expect(srv.seen).toHaveLength(0);
  });

  it('no templated value sends a request outside the base (property, real server)', async () => {
    const value = fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom('..', '.', '../../admin', '%2e%2e', '@evil.example', '//evil.example', '\\..', '?x#y'));
    await fc.assert(
      fc.asyncProperty(value, async (v) => {
        srv.seen.length = 0;
        srv.reply = () => ({ status: 200, body: 'ok' });
        await httpCallActuator(action({ method: 'GET', url: '/items/{{params.v}}', v }), ctx).catch((err: unknown) => {
          expect(err).toBeInstanceOf(PermanentActionError);
        });
        for (const r of srv.seen) expect(r.path.startsWith('/api/items/')).toBe(true);
      }),
      { numRuns: 150 },
    );
    expect(other.seen).toHaveLength(0);
  });

  it('does not follow redirects unless allowed', async () => {
    srv.reply = (req) => (req.path === '/api/new' ? { status: 200, body: 'moved here' } : { status: 307, headers: { location: '/api/new' } });
    const err = await failure(httpCallActuator(action({ url: '/old' }), ctx));
    expect(err).toBeInstanceOf(PermanentActionError);
    expect(err.message).toContain('redirect');
    expect(srv.seen.map((r) => r.path)).toEqual(['/api/old']);
  });

  it('with allowRedirects follows hops that stay under the bases (307 keeps the method and body, 303 becomes GET)', async () => {
    const follow: HttpCallContext = { ...ctx, http: { ...ctx.http!, allowRedirects: true } };
    srv.reply = (req) =>
      req.path === '/api/a' ? { status: 307, headers: { location: `${srv.url}/api/b` } } : req.path === '/api/b' ? { status: 303, headers: { location: 'c' } } : { status: 200, body: '{"done":true}' };
    const outcome = await httpCallActuator(action({ method: 'PUT', url: '/a', body: { x: 1 } }), follow);
    expect(outcome).toMatchObject({ status: 200, redirects: 2, url: `${srv.url}/api/c`, response: { done: true } });
    expect(srv.seen.map((r) => [r.method, r.path, r.body])).toEqual([
      ['PUT', '/api/a', '{"x":1}'],
      ['PUT', '/api/b', '{"x":1}'],
      ['GET', '/api/c', ''],
    ]);
    expect(srv.seen.every((r) => r.headers['idempotency-key'] === 'mapek-inc_42-restart-1')).toBe(true);
  });

  it('with allowRedirects still refuses a hop outside the bases, and endless redirects', async () => {
    const follow: HttpCallContext = { ...ctx, http: { ...ctx.http!, allowRedirects: true, maxRedirects: 3 } };
    for (const location of [`${other.url}/api/x`, '/admin', '/api/../admin', `http://u:p@${new URL(srv.url).host}/api/x`]) {
      srv.seen.length = 0;
      srv.reply = () => ({ status: 302, headers: { location } });
      const err = await failure(httpCallActuator(action({ url: '/a' }), follow));
      expect(err).toBeInstanceOf(PermanentActionError);
      expect(srv.seen).toHaveLength(1);
    }
    srv.reply = (_req, n) => ({ status: 302, headers: { location: `/api/loop${n}` } });
    srv.seen.length = 0;
    const loop = await failure(httpCallActuator(action({ url: '/a' }), follow));
    expect(loop).toBeInstanceOf(PermanentActionError);
    expect(loop.message).toContain('more than 3 redirects');
    expect(srv.seen).toHaveLength(4);
    expect(other.seen).toHaveLength(0);
  });

  it('refuses every call when no bases are configured', async () => {
    expect(await failure(httpCallActuator(action({ url: `${srv.url}/api/x` }), base))).toBeInstanceOf(PermanentActionError);
    expect(srv.seen).toHaveLength(0);
  });
});

describe('http.call, failures', () => {
  it('429 with Retry-After is retryable after that long', async () => {
    srv.reply = () => ({ status: 429, headers: { 'retry-after': '12' }, body: 'slow down' });
    const err = await failure(httpCallActuator(action({ url: '/x' }), ctx));
    expect(err).toBeInstanceOf(RetryableActionError);
    expect((err as RetryableActionError).retryAfterMs).toBe(12_000);
  });

  it.each([
    [500, RetryableActionError],
    [502, RetryableActionError],
    [503, RetryableActionError],
    [408, RetryableActionError],
    [409, RetryableActionError],
    [400, PermanentActionError],
    [401, PermanentActionError],
    [404, PermanentActionError],
    [422, PermanentActionError],
  ])('%i is %o, and an echoed secret is masked in the error', async (status, kind) => {
    srv.reply = (req) => ({ status, body: `you sent ${String(req.headers.authorization)}` });
    const err = await failure(httpCallActuator(action({ url: '/x' }), ctx));
    expect(err).toBeInstanceOf(kind);
    expect(err.message).toContain(String(status));
    expectNoSecret(err);
  });

  it('a hanging server is a retryable timeout; a refused connection is retryable', async () => {
    srv.reply = () => 'hang';
    const started = Date.now();
    const err = await failure(httpCallActuator(action({ url: '/x' }), { ...ctx, timeoutMs: 250 }));
    expect(err).toBeInstanceOf(RetryableActionError);
    expect(err.message).toContain('timed out after 250 ms');
    expect(Date.now() - started).toBeLessThan(2000);
    const port = await closedPort();
    const nowhere: HttpCallContext = { ...base, http: { bases: [`http://127.0.0.1:${port}`], headers: { Authorization: TOKEN } } };
    const refused = await failure(httpCallActuator(action({ url: '/x' }), nowhere));
    expect(refused).toBeInstanceOf(RetryableActionError);
    expect(refused.message).toContain('ECONNREFUSED');
  });

  it('a body that stops mid-way past the deadline is a retryable timeout', async () => {
    srv.reply = () => 'hang';
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"partial":');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const stalled: HttpCallContext = { ...base, timeoutMs: 250, http: { bases: [url] } };
      const err = await failure(httpCallActuator(action({ url: '/x' }), stalled));
      expect(err).toBeInstanceOf(RetryableActionError);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('secret-looking request headers from params are masked too', async () => {
    srv.reply = echo;
    const outcome = await httpCallActuator(action({ url: '/x', headers: { 'X-Api-Key': 'PARAMKEY123' } }), ctx);
    expectNoSecret(outcome, 'PARAMKEY123');
  });
});

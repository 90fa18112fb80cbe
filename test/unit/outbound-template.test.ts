// `{{params.x}}` templates (src/execute/outbound.ts): plain substitution from the action, no code,
// no prototype walk, no second pass; and the request the generic call builds from them.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PermanentActionError } from '../../src/errors.ts';
import { buildHttpCall } from '../../src/execute/actuators/http-call.ts';
import { renderString, renderTemplate, resolveUnderBase, type TemplateScope } from '../../src/execute/outbound.ts';
import type { ActionRecord } from '../../src/knowledge/store.ts';

const scope = (params: Record<string, unknown>): TemplateScope => ({
  params,
  action: { id: 'act_1', incidentId: 'inc_1', step: 'call', iteration: 1, type: 'http.call', idempotencyKey: 'mapek-inc_1-call-1' },
});

describe('renderString', () => {
  it('substitutes params, nested params and action fields', () => {
    const s = scope({ node: 'n1', host: { name: 'h', port: 22 }, list: ['a', 'b'] });
    expect(renderString('/nodes/{{params.node}}/{{ params.host.name }}:{{params.host.port}}', s)).toBe('/nodes/n1/h:22');
    expect(renderString('{{params.list.1}}', s)).toBe('b');
    expect(renderString('{{params.host}}', s)).toBe('{"name":"h","port":22}');
    expect(renderString('key={{action.idempotencyKey}} step={{action.step}}', s)).toBe('key=mapek-inc_1-call-1 step=call');
    expect(renderString('no placeholders', s)).toBe('no placeholders');
  });

  it('encodes substituted values only, when asked', () => {
    const s = scope({ node: 'a b/../c?d' });
    expect(renderString('/n/{{params.node}}?x=1', s, encodeURIComponent)).toBe('/n/a%20b%2F..%2Fc%3Fd?x=1');
  });

  it.each([
    ['{{params.missing}}', 'not set'],
    ['{{params.node.length}}', 'not set'],
    ['{{params.__proto__}}', 'not set'],
    ['{{params.constructor}}', 'not set'],
    ['{{params.toString}}', 'not set'],
    ['{{process.env.HOME}}', 'only {{params'],
    ['{{settings.headers}}', 'only {{params'],
    ['{{params}}', 'only {{params'],
    ['{{ params.node | upper }}', 'placeholders are supported'],
    ['{{params.node + 1}}', 'placeholders are supported'],
    ['{{#each params}}', 'placeholders are supported'],
    ['${params.node}{{', 'placeholders are supported'],
  ])('refuses %j (%s)', (template, why) => {
    expect(() => renderString(template, scope({ node: 'n1' }))).toThrow(PermanentActionError);
    expect(() => renderString(template, scope({ node: 'n1' }))).toThrow(why);
  });

  it('never reads a substituted value as a template (one pass)', () => {
    expect(renderString('{{params.a}}', scope({ a: '{{params.b}}', b: 'x' }))).toBe('{{params.b}}');
  });

  it('round-trips any value through a URL path segment (property)', () => {
    fc.assert(
      fc.property(fc.string(), (v) => {
        const out = renderString('/items/{{params.v}}', scope({ v }), encodeURIComponent);
        expect(decodeURIComponent(out.slice('/items/'.length))).toBe(v);
      }),
    );
  });

  it('no param value can move a templated URL off its base (property)', () => {
    const hostileValue = fc.oneof(fc.string(), fc.constantFrom('..', '.', '../../admin', '%2e%2e', '//evil.example', 'http://evil.example/', '@evil.example', '\\..\\', '?x=1#', ''));
    fc.assert(
      fc.property(hostileValue, (v) => {
        try {
          const u = resolveUnderBase(renderString('/items/{{params.v}}/do', scope({ v }), encodeURIComponent), ['http://127.0.0.1:8080/api']);
          expect(u.host).toBe('127.0.0.1:8080');
          expect(u.pathname.startsWith('/api/items/')).toBe(true);
          expect(u.pathname.endsWith('/do')).toBe(true);
        } catch (err) {
          expect(err).toBeInstanceOf(PermanentActionError);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('renderTemplate', () => {
  it('renders string leaves; a whole placeholder keeps the value type; keys are not templated', () => {
    const s = scope({ n: 3, on: true, tags: ['x'], obj: { a: 1 }, name: 'n1' });
    expect(
      renderTemplate({ count: '{{params.n}}', enabled: '{{ params.on }}', tags: '{{params.tags}}', obj: '{{params.obj}}', text: 'node {{params.name}} x{{params.n}}', '{{params.name}}': 1, list: ['{{params.name}}', 7, null] }, s),
    ).toEqual({ count: 3, enabled: true, tags: ['x'], obj: { a: 1 }, text: 'node n1 x3', '{{params.name}}': 1, list: ['n1', 7, null] });
  });

  it('copies substituted objects (rendering never aliases the params)', () => {
    const params = { obj: { a: 1 } };
    const out = renderTemplate({ o: '{{params.obj}}' }, scope(params)) as { o: { a: number } };
    out.o.a = 2;
    expect(params.obj.a).toBe(1);
  });

  it('drops __proto__ keys instead of polluting', () => {
    const body = JSON.parse('{"__proto__": {"polluted": true}, "ok": 1}') as unknown;
    const out = renderTemplate(body, scope({})) as Record<string, unknown>;
    expect(out).toEqual({ ok: 1 });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

function action(params: Record<string, unknown>): ActionRecord {
  return {
    id: 'act_1',
    incidentId: 'inc_1',
    step: 'call',
    iteration: 1,
    type: 'http.call',
    params,
    status: 'running',
    attempts: 1,
    idempotencyKey: 'mapek-inc_1-call-1',
    outcome: null,
    approvals: [],
    quorum: null,
    lastError: null,
    createdAt: '2030-01-01T00:00:00Z',
    updatedAt: '2030-01-01T00:00:00Z',
  };
}

describe('buildHttpCall', () => {
  const settings = { bases: ['http://127.0.0.1:8080/api'], headers: { Authorization: 'Bearer CONFIGURED' } };

  it('builds method, URL, headers and body; the Idempotency-Key is always the action key; configured headers win', () => {
    const req = buildHttpCall(
      action({ method: 'put', url: '/nodes/{{params.node}}', node: 'n 1', body: { reason: 'r {{params.node}}', n: '{{params.n}}' }, n: 2, headers: { 'X-Trace': '{{action.id}}', 'Idempotency-Key': 'other', authorization: 'mine' } }),
      settings,
    );
    expect(req.method).toBe('PUT');
    expect(req.url.href).toBe('http://127.0.0.1:8080/api/nodes/n%201');
    expect(req.headers).toEqual({ 'x-trace': 'act_1', authorization: 'Bearer CONFIGURED', 'idempotency-key': 'mapek-inc_1-call-1', 'content-type': 'application/json' });
    expect(JSON.parse(req.body!)).toEqual({ reason: 'r n 1', n: 2 });
    expect(req.secrets).toContain('Bearer CONFIGURED');
  });

  it.each([
    [{ method: 'CONNECT', url: '/x' }, 'not allowed'],
    [{ method: 'TRACE', url: '/x' }, 'not allowed'],
    [{ url: 42 }, 'params.url'],
    [{}, 'params.url'],
    [{ method: 'GET', url: '/x', body: { a: 1 } }, 'takes no body'],
    [{ url: '/x', headers: { Host: 'evil.example' } }, 'cannot be set'],
    [{ url: '/x', headers: { 'Transfer-Encoding': 'chunked' } }, 'cannot be set'],
    [{ url: '/x', headers: { Cookie: 'a=b' } }, 'cannot be set'],
    [{ url: '/x', headers: { 'Bad Name': 'v' } }, 'invalid header name'],
    [{ url: '/x', headers: { 'X-A': 'v\r\nX-Injected: 1' } }, 'line break'],
    [{ url: '/x', headers: { 'X-A': '{{params.v}}' }, v: 'a\nb' }, 'line break'],
    [{ url: '/x', headers: ['a'] }, 'must be an object'],
    [{ url: '/x', base: 'http://evil.example/' }, 'not one of the configured bases'],
    [{ url: '/../admin' }, 'refused'],
    [{ url: 'http://evil.example/api' }, 'refused'],
    [{ url: '/x/{{params.v}}', v: '..' }, 'refused'],
  ])('refuses %j', (params, why) => {
    expect(() => buildHttpCall(action(params), settings)).toThrow(PermanentActionError);
    expect(() => buildHttpCall(action(params), settings)).toThrow(why);
  });
});

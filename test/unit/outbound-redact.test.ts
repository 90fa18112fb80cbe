// Redaction (src/execute/outbound.ts): what actuators return goes to knowledge and logs, so no
// secret may survive it — by key, by known value in any encoding, or by recognisable pattern.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { REDACTED, parseRetryAfter, redact, redactOutcome, redactText } from '../../src/execute/outbound.ts';

describe('redact', () => {
  it('masks values under secret-looking keys, at any depth, and keeps the rest', () => {
    const out = redact({
      headers: { Authorization: 'Bearer abc.def', 'X-Api-Key': 'k1', Cookie: 'sid=1', 'content-type': 'application/json' },
      password: 'p',
      smtp: { user: 'mapek', pass: 'p2' },
      routing_key: 'R0UT1NG',
      routingKey: 'R0UT1NG',
      webhookUrls: { '#sec': 'https://hooks.slack.com/services/T0/B0/zzz' },
      nested: [{ access_token: 't' }, { client_secret: 's' }],
      dedup_key: 'mapek-inc_1-page-1',
      idempotencyKey: 'mapek-inc_1-page-1',
      empty: { token: '' },
      count: 3,
    });
    expect(out).toEqual({
      headers: { Authorization: REDACTED, 'X-Api-Key': REDACTED, Cookie: REDACTED, 'content-type': 'application/json' },
      password: REDACTED,
      smtp: { user: 'mapek', pass: REDACTED },
      routing_key: REDACTED,
      routingKey: REDACTED,
      webhookUrls: REDACTED,
      nested: [{ access_token: REDACTED }, { client_secret: REDACTED }],
      dedup_key: 'mapek-inc_1-page-1',
      idempotencyKey: 'mapek-inc_1-page-1',
      empty: { token: '' },
      count: 3,
    });
  });

  it('masks secrets recognisable in text', () => {
    expect(redactText('https://user:pw@example.org/x')).toBe(`https://${REDACTED}@example.org/x`);
    expect(redactText('https://ghp_abcdef@github.com/o/r')).toBe(`https://${REDACTED}@github.com/o/r`);
    expect(redactText('posted to https://hooks.slack.com/services/T000/B000/XXXXXXXX ok')).toBe(`posted to https://hooks.slack.com/services/${REDACTED} ok`);
    expect(redactText('Authorization: Bearer eyJhbGciOi.x.y')).toBe(`Authorization: Bearer ${REDACTED}`);
    expect(redactText('GET /x?token=abc123&page=2&api_key=zz')).toBe(`GET /x?token=${REDACTED}&page=2&api_key=${REDACTED}`);
    expect(redactText('{"password":"hunter2","user":"u"}')).toBe(`{"password":"${REDACTED}","user":"u"}`);
    expect(redactText('{"routing_key": "abc", "dedup_key": "keep"}')).toBe(`{"routing_key": "${REDACTED}", "dedup_key": "keep"}`);
    expect(redactText('token xoxb-123-456-abc in text')).toBe(`token ${REDACTED} in text`);
    expect(redactText('plain text, nothing secret')).toBe('plain text, nothing secret');
  });

  it('masks known secret values in their raw, URL-encoded, JSON-escaped and base64 forms, and a webhook URL by its path alone', () => {
    const secret = 's3cr/t "quoted" +=';
    const hook = 'http://127.0.0.1:9999/services/T0/B0/hooksecret';
    const text = [secret, encodeURIComponent(secret), JSON.stringify(secret), Buffer.from(secret).toString('base64'), hook, 'POST /services/T0/B0/hooksecret'].join(' | ');
    const out = redactText(text, [secret, hook]);
    expect(out).not.toContain('s3cr');
    expect(out).not.toContain(Buffer.from(secret).toString('base64'));
    expect(out).not.toContain('hooksecret');
  });

  it('makes any value JSON-safe: cycles, errors, maps, headers, bytes, bigints, dates, functions', () => {
    const a: Record<string, unknown> = { name: 'a' };
    a.self = a;
    const out = redact({
      a,
      err: new Error('failed with Bearer abcdefgh'),
      map: new Map<string, unknown>([['token', 'x'], ['n', 1]]),
      headers: new Headers({ authorization: 'Basic dXNlcjpwdw==', accept: 'json' }),
      bytes: Buffer.from('secret bytes'),
      big: 10n,
      when: new Date(0),
      fn: () => 1,
      shared: [a.name, a.name],
    });
    expect(out).toEqual({
      a: { name: 'a', self: '[circular]' },
      err: { name: 'Error', message: `failed with Bearer ${REDACTED}` },
      map: { token: REDACTED, n: 1 },
      headers: { authorization: REDACTED, accept: 'json' },
      bytes: '[12 bytes]',
      big: '10',
      when: '1970-01-01T00:00:00.000Z',
      shared: ['a', 'a'],
    });
    expect(() => JSON.stringify(out)).not.toThrow();
  });

  it('cuts long strings and deep nesting', () => {
    const long = redact('x'.repeat(10_000)) as string;
    expect(long.length).toBeLessThan(4200);
    let deep: unknown = 'leaf';
    for (let i = 0; i < 50; i++) deep = { d: deep };
    expect(JSON.stringify(redact(deep))).toContain('[too deep]');
  });

  it('a planted secret never survives, wherever it is put (property)', () => {
    const secretChars = [...'abcdefXYZ0123456789-_.~!$&+/=:@ "\\%'];
    const secret = fc.string({ unit: fc.constantFrom(...secretChars), minLength: 8, maxLength: 24 }).filter((s) => /[A-Za-z0-9]{3}/.test(s));
    const affix = fc.string({ maxLength: 12 });
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 3 }), secret, affix, affix, fc.string({ minLength: 1, maxLength: 10 }), (data, s, pre, post, key) => {
        const obj = {
          data,
          note: `${pre}${s}${post}`,
          encoded: `${pre}${encodeURIComponent(s)}${post}`,
          json: `{"x":${JSON.stringify(s)}}`,
          b64: Buffer.from(s).toString('base64'),
          [key]: s,
          list: [[{ deeper: `${s}${s}` }]],
          [`${pre}${s}`]: 'secret in a key',
        };
        const out = JSON.stringify(redactOutcome(obj, [s]));
        expect(out.includes(s)).toBe(false);
        expect(out.includes(JSON.stringify(s).slice(1, -1))).toBe(false);
        expect(out.includes(encodeURIComponent(s))).toBe(false);
        expect(out.includes(Buffer.from(s).toString('base64'))).toBe(false);
      }),
      { numRuns: 2000 },
    );
  });

  it('never throws and always gives JSON (property)', () => {
    fc.assert(
      fc.property(fc.anything({ withMap: true, withSet: true, withDate: true, withBigInt: true, withTypedArray: true, withNullPrototype: true, withBoxedValues: true }), (v) => {
        const out = redact(v);
        expect(() => JSON.stringify(out)).not.toThrow();
      }),
    );
  });

  it('is stable: redacting twice changes nothing more (property)', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (v) => {
        const once = redact(v);
        expect(redact(once)).toEqual(once);
      }),
    );
  });
});

describe('parseRetryAfter', () => {
  it('reads seconds and HTTP dates, caps at 5 minutes, ignores the past and garbage', () => {
    const now = Date.parse('2030-01-01T00:00:00Z');
    expect(parseRetryAfter('7', now)).toBe(7000);
    expect(parseRetryAfter(' 1.5 ', now)).toBe(1500);
    expect(parseRetryAfter('3600', now)).toBe(300_000);
    expect(parseRetryAfter('Tue, 01 Jan 2030 00:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Mon, 31 Dec 2029 23:00:00 GMT', now)).toBeUndefined();
    expect(parseRetryAfter('0', now)).toBeUndefined();
    expect(parseRetryAfter('-5', now)).toBeUndefined();
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
  });
});

// The outbound URL allow-list (src/execute/outbound.ts): only URLs under a configured base, nothing
// that a server could resolve elsewhere, checked by example and by properties over hostile URLs.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PermanentActionError, ConfigError } from '../../src/errors.ts';
import { assertUnderBase, checkBases, parseBase, resolveUnderBase } from '../../src/execute/outbound.ts';

const BASE = 'http://127.0.0.1:8080/api';
const OTHER = 'https://hooks.example.org';
const BASES = [BASE, OTHER];

/** An independent check of "under the base": what fetch would reach, parsed afresh. */
function reachesOnlyBase(href: string): boolean {
  const u = new URL(href);
  if (u.username || u.password) return false;
  if (/(^|\/)(\.|%2e){1,2}(\/|$)/i.test(u.pathname) || /%2f|%5c/i.test(u.pathname)) return false;
  if (u.protocol === 'http:' && u.host === '127.0.0.1:8080') return u.pathname === '/api' || u.pathname.startsWith('/api/');
  if (u.protocol === 'https:' && u.host === 'hooks.example.org') return u.pathname.startsWith('/');
  return false;
}

function refused(fn: () => unknown): boolean {
  try {
    fn();
    return false;
  } catch (err) {
    if (!(err instanceof PermanentActionError)) throw err;
    return true;
  }
}

describe('assertUnderBase', () => {
  it('accepts URLs under a base, with queries, and returns them parsed without the fragment', () => {
    expect(assertUnderBase('http://127.0.0.1:8080/api', BASES).href).toBe('http://127.0.0.1:8080/api');
    expect(assertUnderBase('http://127.0.0.1:8080/api/', BASES).href).toBe('http://127.0.0.1:8080/api/');
    expect(assertUnderBase('http://127.0.0.1:8080/api/hosts/n1/restart?force=1', BASES).href).toBe('http://127.0.0.1:8080/api/hosts/n1/restart?force=1');
    expect(assertUnderBase('http://127.0.0.1:8080/api/x#frag', BASES).href).toBe('http://127.0.0.1:8080/api/x');
    expect(assertUnderBase('https://hooks.example.org/any/path', BASES).pathname).toBe('/any/path');
    expect(assertUnderBase('https://HOOKS.example.org:443/x', BASES).host).toBe('hooks.example.org');
  });

  const hostile = [
    'http://127.0.0.1:8080/api/../admin',
    'http://127.0.0.1:8080/api/x/../../admin',
    'http://127.0.0.1:8080/api/x/..',
    'http://127.0.0.1:8080/api/./x',
    'http://127.0.0.1:8080/api/%2e%2e/admin',
    'http://127.0.0.1:8080/api/%2E%2E/admin',
    'http://127.0.0.1:8080/api/.%2e/admin',
    'http://127.0.0.1:8080/api/%2e./admin',
    'http://127.0.0.1:8080/api%2f..%2fadmin',
    'http://127.0.0.1:8080/api/..%2Fadmin',
    'http://127.0.0.1:8080/api/x%5c..%5cadmin',
    'http://127.0.0.1:8080/api/x\\..\\..\\admin',
    'http://127.0.0.1:8080\\@evil.example/api',
    'http://127.0.0.1:8080/api/\t../admin',
    'http://127.0.0.1:8080/api/\n../admin',
    'http://127.0.0.1:8080/api /x',
    'http://127.0.0.1:8080/api/é',
    'http://127.0.0.1:8080/api2/x',
    'http://127.0.0.1:8080/apix',
    'http://127.0.0.1:8080/API/x',
    'http://127.0.0.1:8080/',
    'http://127.0.0.1:8080/admin',
    'http://127.0.0.1:8080@evil.example/api/x',
    'http://user:pass@127.0.0.1:8080/api/x',
    'http://user@127.0.0.1:8080/api/x',
    'http://:@127.0.0.1:8080/api/x',
    'http://evil.example#@127.0.0.1:8080/api',
    'http://evil.example?@127.0.0.1:8080/api',
    'http://127.0.0.1:8081/api/x',
    'http://127.0.0.1/api/x',
    'https://127.0.0.1:8080/api/x',
    'http://localhost:8080/api/x',
    'http://127.0.0.1.evil.example:8080/api/x',
    'http://hooks.example.org/x',
    'https://hooks.example.org.evil.example/x',
    'https://evil.example/hooks.example.org/x',
    'ftp://127.0.0.1:8080/api/x',
    'file:///etc/passwd',
    'javascript:alert(1)',
    'data:text/plain,hello',
    'http:127.0.0.1:8080/api/x/../../admin',
    'http:/evil.example/api',
    '//evil.example/api',
    '/api/x',
    '',
    'http://[::1]:8080/api/x',
  ];
  it.each(hostile)('refuses %j', (url) => {
    expect(refused(() => assertUnderBase(url, BASES))).toBe(true);
  });

  it('accepts other spellings of the same address only when they parse to the same origin', () => {
    // The WHATWG parser turns these into 127.0.0.1: the same host, so they are under the base.
    expect(assertUnderBase('http://2130706433:8080/api/x', BASES).host).toBe('127.0.0.1:8080');
    expect(assertUnderBase('http://0x7f.0.0.1:8080/api/x', BASES).host).toBe('127.0.0.1:8080');
  });

  it('refuses everything when no base is configured, and bad bases at configuration time', () => {
    expect(refused(() => assertUnderBase('http://127.0.0.1:8080/api/x', []))).toBe(true);
    expect(() => checkBases('http.bases', ['http://u:p@127.0.0.1/'])).toThrow(ConfigError);
    expect(() => checkBases('http.bases', ['ftp://127.0.0.1/'])).toThrow(ConfigError);
    expect(() => checkBases('http.bases', ['http://127.0.0.1/a/../b'])).toThrow(ConfigError);
    expect(() => checkBases('http.bases', ['http://127.0.0.1/a?x=1'])).toThrow(/no query/);
    expect(() => checkBases('http.bases', ['http://u:supersecret@127.0.0.1/'])).toThrow(/^(?!.*supersecret)/s);
    expect(checkBases('http.bases', ['http://127.0.0.1:8080/api/', 'https://x.example'])).toEqual(['http://127.0.0.1:8080/api', 'https://x.example']);
    expect(parseBase('http://127.0.0.1:8080/').path).toBe('');
  });

  it('never names a secret of the URL it refuses', () => {
    const err = (() => {
      try {
        assertUnderBase('http://admin:hunter2@evil.example/x?token=abc123', BASES);
      } catch (e) {
        return e as Error;
      }
      throw new Error('not refused');
    })();
    expect(err.message).not.toContain('hunter2');
    expect(err.message).not.toContain('abc123');
  });
});

describe('resolveUnderBase', () => {
  it('appends paths to the chosen base, never resolving them against it', () => {
    expect(resolveUnderBase('/hosts/n1', BASES).href).toBe('http://127.0.0.1:8080/api/hosts/n1');
    expect(resolveUnderBase('hosts/n1', BASES).href).toBe('http://127.0.0.1:8080/api/hosts/n1');
    expect(resolveUnderBase('?q=1', BASES).href).toBe('http://127.0.0.1:8080/api/?q=1');
    expect(resolveUnderBase('', BASES).href).toBe('http://127.0.0.1:8080/api');
    expect(resolveUnderBase('/x', BASES, 'https://hooks.example.org/').href).toBe('https://hooks.example.org/x');
    expect(resolveUnderBase('https://hooks.example.org/y', BASES).href).toBe('https://hooks.example.org/y');
  });

  it.each(['../admin', '/../admin', './x', '%2e%2e/admin', '..%2fadmin', '//evil.example/x', '\\\\evil.example/x', '@evil.example/x/../..', 'http://evil.example/api', 'x/..', 'a\\b'])(
    'refuses the relative target %j',
    (target) => {
      expect(refused(() => resolveUnderBase(target, BASES))).toBe(true);
    },
  );

  it('keeps "@host" in a path as a path', () => {
    const u = resolveUnderBase('@evil.example/x', BASES);
    expect(u.host).toBe('127.0.0.1:8080');
    expect(u.pathname).toBe('/api/@evil.example/x');
  });

  it('refuses a base that is not configured', () => {
    expect(refused(() => resolveUnderBase('/x', BASES, 'http://evil.example/'))).toBe(true);
    expect(refused(() => resolveUnderBase('/x', []))).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------
// Properties over hostile URLs
// ---------------------------------------------------------------------------------------------

const scheme = fc.constantFrom('http', 'https', 'HTTP', 'ftp', 'file', 'javascript', 'ws', 'http:', '');
const userinfo = fc.constantFrom('', 'user@', 'user:pw@', ':@', '127.0.0.1:8080@', 'hooks.example.org@', 'a%40b@');
const host = fc.constantFrom('127.0.0.1', 'hooks.example.org', 'evil.example', 'localhost', '[::1]', '127.0.0.1.evil.example', '0x7f.0.0.1', '2130706433', '127.0.0.1%2f', 'HOOKS.EXAMPLE.ORG', '');
const port = fc.constantFrom('', ':8080', ':8081', ':80', ':443', ':0', ':65536');
const segment = fc.constantFrom(
  'api',
  'API',
  'api2',
  'x',
  '..',
  '.',
  '%2e%2e',
  '%2E.',
  '.%2e',
  '%2e',
  '..%2f',
  '%2f',
  '%5c',
  '\\',
  '..\\',
  '@evil.example',
  '#',
  '?',
  '%00',
  ';',
  '\t..',
  ' ',
  '%252e%252e',
  '',
);
const sep = fc.constantFrom('/', '\\', '//', '/./');

const hostileUrl = fc
  .tuple(scheme, fc.constantFrom('://', ':/', ':', ':\\\\', '://'), userinfo, host, port, fc.array(fc.tuple(sep, segment), { maxLength: 6 }))
  .map(([s, colon, ui, h, p, segs]) => `${s}${colon}${ui}${h}${p}${segs.map(([a, b]) => a + b).join('')}`);

describe('assertUnderBase, properties', () => {
  it('whatever it accepts reaches only a base (structured hostile URLs)', () => {
    fc.assert(
      fc.property(hostileUrl, (url) => {
        let href: string;
        try {
          href = assertUnderBase(url, BASES).href;
        } catch (err) {
          expect(err).toBeInstanceOf(PermanentActionError);
          return;
        }
        expect(reachesOnlyBase(href)).toBe(true);
        // and the input held no backslash or whitespace, no userinfo, and no dot segment before its query or fragment
        expect(url).not.toMatch(/[\\\s]/);
        expect(url).not.toMatch(/^[a-z]+:\/\/[^/?#]*@/i);
        expect(url.split(/[?#]/, 1)[0]).not.toMatch(/(^|\/)(\.|%2e){1,2}(\/|$)/i);
      }),
      { numRuns: 5000 },
    );
  });

  it('whatever it accepts reaches only a base (arbitrary strings)', () => {
    const arbitrary = fc.oneof(
      fc.string({ unit: 'binary-ascii', maxLength: 80 }),
      fc.string({ maxLength: 40 }).map((s) => `http://127.0.0.1:8080/api/${s}`),
      fc.string({ maxLength: 40 }).map((s) => `http://127.0.0.1:8080${s}`),
      fc.string({ maxLength: 40 }).map((s) => `https://hooks.example.org${s}`),
      fc.webUrl({ withQueryParameters: true, withFragments: true }),
    );
    fc.assert(
      fc.property(arbitrary, (url) => {
        try {
          expect(reachesOnlyBase(assertUnderBase(url, BASES).href)).toBe(true);
        } catch (err) {
          expect(err).toBeInstanceOf(PermanentActionError);
        }
      }),
      { numRuns: 5000 },
    );
  });

  it('refuses every URL with a dot segment, plain or encoded, even one that stays under the base', () => {
    const dots = fc.constantFrom('..', '.', '%2e%2e', '%2E%2e', '.%2E', '%2e.', '%2e');
    const safe = fc.stringMatching(/^[A-Za-z0-9_~-]{1,8}$/);
    fc.assert(
      fc.property(fc.array(safe, { maxLength: 3 }), dots, fc.array(safe, { maxLength: 3 }), (before, dot, after) => {
        const url = `${BASE}/${[...before, dot, ...after].join('/')}`;
        expect(refused(() => assertUnderBase(url, BASES))).toBe(true);
      }),
    );
  });

  it('accepts every plain path under a base (no false refusals) and keeps it as it is', () => {
    const safe = fc.stringMatching(/^[A-Za-z0-9_~-]{1,12}$/).filter((s) => s !== '.' && s !== '..');
    fc.assert(
      fc.property(fc.array(safe, { minLength: 1, maxLength: 6 }), fc.boolean(), (segs, leadingSlash) => {
        const path = segs.join('/');
        const u = resolveUnderBase(leadingSlash ? `/${path}` : path, BASES);
        expect(u.href).toBe(`${BASE}/${path}`);
      }),
    );
  });

  it('a relative target never leaves its base', () => {
    const target = fc.oneof(
      fc.array(fc.tuple(sep, segment), { maxLength: 6 }).map((segs) => segs.map(([a, b]) => a + b).join('')),
      fc.string({ unit: 'binary-ascii', maxLength: 60 }),
    );
    fc.assert(
      fc.property(target, (t) => {
        try {
          const u = resolveUnderBase(t, BASES);
          expect(u.host).toBe('127.0.0.1:8080');
          expect(reachesOnlyBase(u.href)).toBe(true);
        } catch (err) {
          expect(err).toBeInstanceOf(PermanentActionError);
        }
      }),
      { numRuns: 3000 },
    );
  });
});

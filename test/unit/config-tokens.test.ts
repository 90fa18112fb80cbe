// The tokens of the configuration (MAPEK_WEBHOOK_TOKEN, MAPEK_ADMIN_TOKEN) as src/api/auth.ts checks them.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { adminMatches, bearerMatches } from '../../src/api/auth.ts';

const TOKEN = 's3cr3t-T0ken_with.chars~';
const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;

describe('bearerMatches', () => {
  it.each([`Bearer ${TOKEN}`, `bearer ${TOKEN}`, `BEARER ${TOKEN}`, `Bearer   ${TOKEN}`, `  Bearer ${TOKEN}  `])('accepts %j', (h) => {
    expect(bearerMatches(h, TOKEN)).toBe(true);
  });

  it.each([
    ['no header', undefined],
    ['an empty header', ''],
    ['the token alone', TOKEN],
    ['another scheme', `Token ${TOKEN}`],
    ['a wrong token', 'Bearer nope'],
    ['a prefix of the token', `Bearer ${TOKEN.slice(0, -1)}`],
    ['the token with more after it', `Bearer ${TOKEN}x`],
    ['a different case', `Bearer ${TOKEN.toUpperCase()}`],
    ['Bearer with nothing', 'Bearer '],
    ['basic auth with the token as password', basic('admin', TOKEN)],
  ])('refuses %s', (_what, h) => {
    expect(bearerMatches(h, TOKEN)).toBe(false);
  });

  it('matches exactly the configured token', () => {
    const tok = fc.string({ minLength: 1, maxLength: 20 }).filter((s) => s.trim() === s && s.length > 0 && !/\s/.test(s));
    fc.assert(
      fc.property(tok, tok, (a, b) => {
        expect(bearerMatches(`Bearer ${a}`, b)).toBe(a === b);
      }),
    );
  });
});

describe('adminMatches', () => {
  it('accepts the bearer token', () => {
    expect(adminMatches(`Bearer ${TOKEN}`, TOKEN)).toBe(true);
  });

  it('accepts the token as the password of basic auth, whatever the user name', () => {
    expect(adminMatches(basic('admin', TOKEN), TOKEN)).toBe(true);
    expect(adminMatches(basic('', TOKEN), TOKEN)).toBe(true);
    expect(adminMatches(`basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}`, TOKEN)).toBe(true);
  });

  it('accepts a token that contains a colon as a basic-auth password', () => {
    expect(adminMatches(basic('ops', 'a:b:c'), 'a:b:c')).toBe(true);
  });

  it.each([
    ['no header', undefined],
    ['a wrong password', basic('admin', 'wrong')],
    ['the token as the user name', basic(TOKEN, '')],
    ['no colon in the credentials', `Basic ${Buffer.from(TOKEN).toString('base64')}`],
    ['a wrong bearer', 'Bearer wrong'],
    ['garbage', 'Basic !!!not-base64!!!'],
    ['another scheme', `Digest ${TOKEN}`],
  ])('refuses %s', (_what, h) => {
    expect(adminMatches(h, TOKEN)).toBe(false);
  });
});

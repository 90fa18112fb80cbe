/**
 * Outbound safety for actuators (issue 6): the settings of the notification and generic actuators,
 * the URL allow-list every outbound call goes through, `{{params.x}}` templates, and the redaction
 * that keeps secrets out of outcomes, errors, knowledge and logs.
 *
 * A leaf module (it imports errors.ts only) so that actuators/types.ts can import its settings
 * types without a cycle.
 */
import { ConfigError, PermanentActionError } from '../errors.ts';

// ---------------------------------------------------------------------------------------------
// Settings (read by the actuators from optional fields of ActuatorContext)
// ---------------------------------------------------------------------------------------------

/** Slack incoming webhooks, one per channel. The URLs are secrets (the path is the credential). */
export interface SlackSettings {
  /** Channel (e.g. `#charter-security`) → incoming-webhook URL. A channel given with or without `#` matches. */
  webhookUrls: Record<string, string>;
  /** Channel used when an action names none. */
  defaultChannel?: string;
}

/** PagerDuty Events API v2. */
export interface PagerDutySettings {
  /** Default `https://events.pagerduty.com/v2/enqueue`. */
  eventsUrl?: string;
  /** The integration's routing key: a secret. */
  routingKey: string;
  /** `payload.source` when an action names none; default `mapek`. */
  source?: string;
}

/** SMTP submission through nodemailer. */
export interface SmtpSettings {
  host: string;
  port: number;
  /** true: TLS from the first byte (port 465); false: plain, upgraded with STARTTLS when offered. */
  secure: boolean;
  user?: string;
  /** A secret. */
  pass?: string;
  /** Envelope and header sender, e.g. `mapek <mapek@example.org>`. */
  from: string;
  /** Recipients when an action names none. */
  defaultTo?: string[];
  /** When set, every recipient's domain must be one of these (lower case); others are refused. */
  allowedDomains?: string[];
  /** Refuse to send without TLS (STARTTLS required on a non-secure port). Default false. */
  requireTLS?: boolean;
}

/** The generic HTTP call: the only URLs it may reach, and headers it adds (often credentials). */
export interface HttpCallSettings {
  /** Absolute http(s) base URLs; a call must resolve under one of them. */
  bases: string[];
  /** Follow 3xx answers (each hop must stay under the bases). Default false: a 3xx is a permanent failure. */
  allowRedirects?: boolean;
  /** At most this many hops when redirects are allowed. Default 5. */
  maxRedirects?: number;
  /** Headers added to every call (e.g. `authorization`); their values are treated as secrets. */
  headers?: Record<string, string>;
}

// ---------------------------------------------------------------------------------------------
// URL allow-list
// ---------------------------------------------------------------------------------------------

const MAX_URL_LENGTH = 8192;
const SCHEME = /^[a-zA-Z][a-zA-Z0-9+.-]*:/;

/** A base URL checked and normalised: http(s), no userinfo, no query or fragment, no trailing slash. */
export interface Base {
  href: string;
  origin: string;
  /** The path prefix without its trailing slash (`''` for the root). */
  path: string;
}

function baseProblem(raw: string): string | undefined {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return 'not an absolute URL';
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return `scheme ${u.protocol} is not http or https`;
  if (u.username || u.password) return 'credentials in a base URL are not allowed (use headers)';
  if (u.search || u.hash || raw.includes('?') || raw.includes('#')) return 'a base URL has no query or fragment';
  if (hasUnsafePath(raw)) return 'a base URL has no dot segments, backslashes or encoded slashes';
  return undefined;
}

/** Parses a base; throws PermanentActionError naming the problem. */
export function parseBase(raw: string): Base {
  const problem = baseProblem(raw);
  if (problem) throw new PermanentActionError(`outbound base ${redactText(raw)}: ${problem}`);
  const u = new URL(raw);
  const path = u.pathname.replace(/\/+$/, '');
  return { href: u.origin + path, origin: u.origin, path };
}

/** Validates configured bases at start (for config.ts): throws ConfigError naming the field and the base. */
export function checkBases(field: string, bases: readonly string[]): string[] {
  return bases.map((raw, i) => {
    const problem = baseProblem(raw);
    if (problem) throw new ConfigError(`${field}[${i}] (${redactText(raw)}): ${problem}`);
    return parseBase(raw).href;
  });
}

/** The path part of a raw URL or path (no scheme, authority, query or fragment). */
function rawPath(raw: string): string {
  return raw.replace(/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/?#\\]*/, '').split(/[?#]/, 1)[0] ?? '';
}

/** Dot segments (plain or percent-encoded), encoded slashes, backslashes or NULs in the path. */
function hasUnsafePath(raw: string): boolean {
  const path = rawPath(raw);
  if (/%2f|%5c|%00/i.test(path) || path.includes('\\')) return true;
  return path.split('/').some((seg) => {
    const s = seg.replace(/%2e/gi, '.');
    return s === '.' || s === '..';
  });
}

function reject(raw: string, why: string): never {
  throw new PermanentActionError(`outbound URL ${redactText(raw.slice(0, 300))} refused: ${why}`);
}

/**
 * Checks an absolute URL against the allow-list and returns it parsed: the same scheme, host and
 * port as one base, a path under that base's path, no userinfo. Refuses (PermanentActionError)
 * anything else, and, to leave no room for a server that normalises differently, any dot segment
 * (`.`, `..`, `%2e%2e`), encoded slash or backslash, whitespace, control or non-ASCII character —
 * even when the URL would still resolve under a base. The returned URL is what must be fetched.
 */
export function assertUnderBase(url: string, bases: readonly string[]): URL {
  if (typeof url !== 'string' || url.length === 0) reject(String(url), 'empty');
  if (url.length > MAX_URL_LENGTH) reject(url, `longer than ${MAX_URL_LENGTH} characters`);
  // Printable ASCII only: the WHATWG parser silently drops tabs and newlines and maps backslashes.
  if (!/^[\x21-\x7e]+$/.test(url)) reject(url, 'whitespace, control or non-ASCII characters');
  if (url.includes('\\')) reject(url, 'backslashes are not allowed');
  if (!SCHEME.test(url)) reject(url, 'not an absolute URL');
  if (hasUnsafePath(url)) reject(url, 'dot segments, backslashes or encoded slashes in the path');
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return reject(url, 'not a valid URL');
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') reject(url, `scheme ${u.protocol} is not allowed`);
  if (u.username !== '' || u.password !== '' || /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/?#]*@/.test(url)) reject(url, 'userinfo is not allowed');
  if (bases.length === 0) reject(url, 'no outbound bases are configured');
  for (const raw of bases) {
    const base = parseBase(raw);
    if (u.origin !== base.origin) continue;
    if (u.pathname === base.path || u.pathname.startsWith(`${base.path}/`)) {
      u.hash = '';
      return u;
    }
  }
  return reject(url, 'not under any configured base');
}

/**
 * Resolves what an action names — an absolute URL, or a path under `base` (default: the first
 * configured base) — and checks it with assertUnderBase. A path is appended to the base (never
 * resolved against it), so `/x` stays under the base's path; a scheme-relative `//host` is refused.
 */
export function resolveUnderBase(target: string, bases: readonly string[], base?: string): URL {
  if (typeof target !== 'string') reject(String(target), 'not a string');
  if (target.startsWith('//') || target.startsWith('\\')) reject(target, 'scheme-relative URLs are not allowed');
  if (SCHEME.test(target)) return assertUnderBase(target, bases);
  if (bases.length === 0) reject(target, 'no outbound bases are configured');
  let chosen: string;
  if (base === undefined) chosen = bases[0]!;
  else {
    const wanted = baseProblem(base) ? undefined : parseBase(base).href;
    const found = bases.find((b) => !baseProblem(b) && parseBase(b).href === wanted);
    if (!found) reject(base, 'not one of the configured bases');
    chosen = found;
  }
  const root = parseBase(chosen).href;
  const joined = target === '' ? root : target.startsWith('?') ? `${root}/${target}` : `${root}/${target.replace(/^\/+/, '')}`;
  return assertUnderBase(joined, [chosen]);
}

// ---------------------------------------------------------------------------------------------
// Templates: `{{params.x}}` substitution, no code execution
// ---------------------------------------------------------------------------------------------

/** What a template may read: the action's params and a few plain fields of the action. */
export interface TemplateScope {
  params: Record<string, unknown>;
  action: { id: string; incidentId: string; step: string; iteration: number; type: string; idempotencyKey: string };
}

const PLACEHOLDER = /\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}/g;
const WHOLE = /^\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}$/;
const FORBIDDEN_SEGMENTS = new Set(['__proto__', 'prototype', 'constructor']);

function lookup(scope: TemplateScope, expr: string): unknown {
  const [root, ...path] = expr.split('.');
  if ((root !== 'params' && root !== 'action') || path.length === 0) {
    throw new PermanentActionError(`template {{${expr}}}: only {{params.NAME}} and {{action.FIELD}} can be used`);
  }
  let cur: unknown = scope[root];
  for (const seg of path) {
    if (seg === '' || FORBIDDEN_SEGMENTS.has(seg) || typeof cur !== 'object' || cur === null || !Object.hasOwn(cur, seg)) {
      throw new PermanentActionError(`template {{${expr}}}: not set`);
    }
    cur = (cur as Record<string, unknown>)[seg];
  }
  if (cur === undefined) throw new PermanentActionError(`template {{${expr}}}: not set`);
  return cur;
}

function asText(v: unknown): string {
  return typeof v === 'string' ? v : typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v);
}

/**
 * Substitutes `{{params.a.b}}` and `{{action.idempotencyKey}}` in one string. `encode` is applied to
 * each substituted value (encodeURIComponent for URLs). Values are inserted once, never re-read as
 * templates; an unknown name or a `{{` that is not a plain placeholder is a PermanentActionError.
 */
export function renderString(template: string, scope: TemplateScope, encode: (s: string) => string = (s) => s): string {
  const out = template.replace(PLACEHOLDER, (_, expr: string) => encode(asText(lookup(scope, expr))));
  const leftover = template.replace(PLACEHOLDER, '');
  if (leftover.includes('{{')) throw new PermanentActionError(`template "${template.slice(0, 100)}": only {{params.NAME}} placeholders are supported`);
  return out;
}

/**
 * Renders a JSON template: every string leaf is rendered; a leaf that is exactly one placeholder
 * takes the value as it is (a number stays a number, an object an object). Keys are not templated.
 */
export function renderTemplate(value: unknown, scope: TemplateScope, depth = 0): unknown {
  if (depth > 32) throw new PermanentActionError('template nested too deeply');
  if (typeof value === 'string') {
    const whole = WHOLE.exec(value);
    return whole ? structuredClone(lookup(scope, whole[1]!)) : renderString(value, scope);
  }
  if (Array.isArray(value)) return value.map((v) => renderTemplate(v, scope, depth + 1));
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (FORBIDDEN_SEGMENTS.has(k)) continue;
      out[k] = renderTemplate(v, scope, depth + 1);
    }
    return out;
  }
  return value;
}

// ---------------------------------------------------------------------------------------------
// Retry-After
// ---------------------------------------------------------------------------------------------

/** Retry-After is honoured up to this (issue 6). */
export const MAX_RETRY_AFTER_MS = 5 * 60_000;

/** Retry-After (seconds or an HTTP date) in ms, capped at 5 min; undefined when absent or past. */
export function parseRetryAfter(header: string | null | undefined, now: number = Date.now()): number | undefined {
  if (!header) return undefined;
  const trimmed = header.trim();
  const ms = /^\d+(\.\d+)?$/.test(trimmed) ? Number(trimmed) * 1000 : Date.parse(trimmed) - now;
  return Number.isFinite(ms) && ms > 0 ? Math.min(Math.ceil(ms), MAX_RETRY_AFTER_MS) : undefined;
}

// ---------------------------------------------------------------------------------------------
// Redaction
// ---------------------------------------------------------------------------------------------

/** What a masked value reads as. */
export const REDACTED = '[REDACTED]';

/** Keys whose values are secrets, whatever they hold (compared without `-`, `_` and case). */
const SECRET_KEY =
  /^(auth|pass|pwd|pin|otp|cookie|setcookie|dsn)$|authori[sz]ation|password|passwd|passphrase|secret|token|apikey|accesskey|privatekey|routingkey|integrationkey|servicekey|signingkey|webhook|credential|signature|sessionid|xapikey/;

function isSecretKey(key: string): boolean {
  return SECRET_KEY.test(key.toLowerCase().replace(/[-_\s.]/g, ''));
}

const SECRET_WORDS = 'password|passwd|pass|pwd|secret|token|access_token|refresh_token|id_token|api[_-]?key|apikey|client_secret|routing_key|routingKey|integration_key|signature|sig|auth|authorization|private_key|credentials?|session(?:_?id)?|key';

const TEXT_RULES: Array<[RegExp, string]> = [
  // URL userinfo: scheme://user:pass@host, scheme://token@host
  [/\b([a-zA-Z][a-zA-Z0-9+.-]*:\/\/)[^/?#\s"'<>@]+@/g, `$1${REDACTED}@`],
  // Slack webhook URLs: the path is the credential
  [/(hooks\.slack\.com\/(?:services|workflows|triggers)\/)[^\s"'<>]+/gi, `$1${REDACTED}`],
  // Slack tokens
  [/\bx(?:ox[abposre]|app)-[A-Za-z0-9-]+/g, REDACTED],
  // Authorization header values in text
  [/\b(Bearer|Basic|Digest)\s+[A-Za-z0-9._~+/=-]{4,}/gi, `$1 ${REDACTED}`],
  // Secret-looking query parameters
  [new RegExp(`([?&;](?:${SECRET_WORDS})=)[^&#\\s"'<>]*`, 'gi'), `$1${REDACTED}`],
  // "password": "x" and password=x in JSON or form text
  [new RegExp(`((?:"|')(?:${SECRET_WORDS})(?:"|')\\s*:\\s*)("(?:[^"\\\\]|\\\\.)*"|'[^']*'|[^,}\\s]+)`, 'gi'), `$1"${REDACTED}"`],
];

/** Known secret values and the encoded forms they may show up in. */
function secretForms(secrets: Iterable<string>): string[] {
  const forms = new Set<string>();
  for (const s of secrets) {
    if (typeof s !== 'string' || s.length === 0) continue;
    forms.add(s);
    forms.add(encodeURIComponent(s));
    forms.add(JSON.stringify(s).slice(1, -1));
    forms.add(Buffer.from(s).toString('base64'));
    try {
      const u = new URL(s);
      // A URL whose path is its credential (a webhook): the path alone, too.
      if (u.pathname.length > 1) forms.add(u.pathname + u.search);
    } catch {
      // not a URL
    }
  }
  // Longest first, so a secret containing another is masked whole.
  return [...forms].filter((f) => f.length > 0).sort((a, b) => b.length - a.length);
}

function maskText(text: string, forms: readonly string[]): string {
  let out = text;
  for (const f of forms) out = out.split(f).join(REDACTED);
  for (const [re, to] of TEXT_RULES) out = out.replace(re, to);
  return out;
}

/** Masks secrets in a string: known values (and their URL, JSON and base64 forms), then patterns. */
export function redactText(text: string, secrets: Iterable<string> = []): string {
  return maskText(text, secretForms(secrets));
}

/** Options of redact. */
export interface RedactOptions {
  /** Values that must never appear (webhook URLs, routing keys, passwords, configured header values). */
  secrets?: Iterable<string>;
  /** Longest string kept (longer ones are cut, with a marker). Default 4096. */
  maxString?: number;
}

/**
 * A JSON-safe deep copy with secrets masked: values under secret-looking keys (authorization,
 * cookie, token, password, routing key, webhook URL...), known secret values anywhere in any
 * string, URL userinfo, Slack webhook paths, bearer tokens and secret query parameters.
 * Errors become `{name, message}`, Headers/Maps plain objects, binary data a length; cycles and
 * depth beyond 20 are cut. Every outcome an actuator returns goes through this.
 */
export function redact(value: unknown, opts: RedactOptions = {}): unknown {
  const forms = secretForms(opts.secrets ?? []);
  const maxString = opts.maxString ?? 4096;
  const seen = new WeakSet<object>();
  const text = (s: string): string => {
    const out = maskText(s, forms);
    return out.length > maxString ? `${out.slice(0, maxString)}…[${out.length - maxString} more characters]` : out;
  };
  const walk = (v: unknown, depth: number): unknown => {
    if (typeof v === 'string') return text(v);
    if (v === null || typeof v === 'number' || typeof v === 'boolean') return v;
    if (typeof v === 'bigint') return v.toString();
    if (typeof v !== 'object') return undefined; // functions, symbols, undefined
    if (depth > 20) return '[too deep]';
    if (seen.has(v)) return '[circular]';
    seen.add(v);
    try {
      if (v instanceof Date) return Number.isNaN(v.getTime()) ? null : v.toISOString();
      if (v instanceof Error) return { name: v.name, message: text(v.message) };
      if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer) return `[${v.byteLength} bytes]`;
      if (Array.isArray(v)) return v.map((x) => walk(x, depth + 1) ?? null);
      const entries: Array<[string, unknown]> =
        v instanceof Map ? [...v.entries()].map(([k, x]) => [keyText(k), x]) : typeof Headers !== 'undefined' && v instanceof Headers ? [...v.entries()] : v instanceof Set ? [...v].map((x, i) => [String(i), x]) : Object.entries(v);
      const out: Record<string, unknown> = {};
      for (const [k, x] of entries) {
        if (FORBIDDEN_SEGMENTS.has(k)) continue;
        const key = text(k);
        if (isSecretKey(k)) {
          out[key] = x === undefined || x === null || x === '' ? x : REDACTED;
          continue;
        }
        const w = walk(x, depth + 1);
        if (w !== undefined) out[key] = w;
      }
      return out;
    } catch {
      return '[unreadable]'; // a throwing getter or an exotic object
    } finally {
      seen.delete(v);
    }
  };
  return walk(value, 0);
}

function keyText(k: unknown): string {
  if (typeof k === 'string') return k;
  try {
    return String(k);
  } catch {
    return '[object]';
  }
}

/** redact for an actuator outcome: a record in, a record out. */
export function redactOutcome(outcome: Record<string, unknown>, secrets: Iterable<string> = []): Record<string, unknown> {
  return redact(outcome, { secrets }) as Record<string, unknown>;
}

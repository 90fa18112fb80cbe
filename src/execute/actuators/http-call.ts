/**
 * The generic HTTP call (`http.call`): a method, a URL under one of the configured bases, a
 * templated JSON body and headers, an Idempotency-Key always set, a timeout, redirects refused
 * unless `allowRedirects`. Also the outbound request that the Slack and PagerDuty actuators share:
 * bounded response reading, and the retry classification of http.ts (2xx ok; 408, 409, 429, 5xx,
 * timeouts and connection errors retryable, honouring Retry-After up to 5 min; other 4xx and 3xx
 * permanent), with every error message redacted.
 *
 * Action params:
 * - `method`: GET, HEAD, POST, PUT, PATCH or DELETE (default POST);
 * - `url`: a path under `base` (default: the first configured base) or an absolute URL under any
 *   base, with `{{params.x}}` placeholders (values URL-encoded);
 * - `base`: optional, one of the configured bases;
 * - `body`: optional JSON with `{{params.x}}` placeholders (not with GET or HEAD);
 * - `headers`: optional, values with `{{params.x}}` placeholders. The Idempotency-Key header is
 *   always the action's key; an action cannot set hop-by-hop headers, Host or Cookie.
 * Templates read the action's params and `{{action.idempotencyKey}}`-style fields only, never the
 * settings, so configured credentials cannot be copied into a URL or body.
 *
 * Idempotency: the server sees the same Idempotency-Key on every attempt; whether it dedupes is up
 * to the server. A non-idempotent endpoint that ignores the header may see a repeat after a
 * timeout or a killed worker.
 */
import { PermanentActionError } from '../../errors.ts';
import type { HttpCallSettings } from '../outbound.ts';
import { assertUnderBase, parseRetryAfter, redactOutcome, redactText, renderString, renderTemplate, resolveUnderBase, type TemplateScope } from '../outbound.ts';
import type { Actuator, ActuatorContext } from './types.ts';
import { RetryableActionError } from './types.ts';

/** Responses are read up to this many bytes; the rest is dropped. */
export const RESPONSE_LIMIT = 64 * 1024;

/** How a status is handled; 409 is retryable for servers that answer it for a key still in flight. */
export function classifyStatus(status: number, retry409 = true): 'ok' | 'retryable' | 'permanent' {
  if (status >= 200 && status < 300) return 'ok';
  if (status >= 500 || status === 408 || status === 429 || (retry409 && status === 409)) return 'retryable';
  return 'permanent';
}

/** One outbound request. */
export interface OutboundRequest {
  method: string;
  url: URL;
  headers: Record<string, string>;
  body?: string;
  timeoutMs: number;
  /** How errors name the target: a Slack webhook URL is itself a secret, so Slack names the channel. */
  label: string;
  /** Values masked in error messages. */
  secrets: readonly string[];
  /** Default true (http.ts); Slack and PagerDuty have no in-flight 409, so for them it is permanent. */
  retry409?: boolean;
  /** Follow 3xx within these bases; without it a 3xx is a permanent failure. */
  redirects?: { bases: readonly string[]; max: number };
}

/** A 2xx answer. */
export interface OutboundResponse {
  status: number;
  /** The URL that answered (after redirects). */
  url: URL;
  redirects: number;
  text: string;
  /** The body parsed as JSON, or undefined. */
  json: unknown;
  truncated: boolean;
}

function failureReason(err: unknown, timeoutMs: number): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return `timed out after ${timeoutMs} ms`;
  return e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(err);
}

async function readLimited(res: Response): Promise<{ text: string; truncated: boolean }> {
  if (!res.body) return { text: '', truncated: false };
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let truncated = false;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.byteLength;
    if (size > RESPONSE_LIMIT) {
      truncated = true;
      await reader.cancel().catch(() => {});
      break;
    }
  }
  const buf = Buffer.concat(chunks);
  return { text: buf.subarray(0, RESPONSE_LIMIT).toString('utf8'), truncated };
}

/**
 * Sends one request with a timeout over the whole exchange (redirects and body included) and
 * classifies the answer: resolves on 2xx, throws RetryableActionError (with Retry-After) or
 * PermanentActionError otherwise. Error messages name `label`, never a secret.
 */
export async function sendOutbound(req: OutboundRequest): Promise<OutboundResponse> {
  const signal = AbortSignal.timeout(req.timeoutMs);
  const clean = (s: string) => redactText(s, req.secrets);
  let url = req.url;
  let method = req.method;
  let body = req.body;
  let hops = 0;
  for (;;) {
    let res: Response;
    let text: string;
    let truncated: boolean;
    try {
      res = await fetch(url, { method, headers: req.headers, body, redirect: 'manual', signal });
      if (res.status >= 300 && res.status < 400 && res.headers.has('location')) {
        await res.body?.cancel().catch(() => {});
        text = '';
        truncated = false;
      } else {
        ({ text, truncated } = await readLimited(res));
      }
    } catch (err) {
      throw new RetryableActionError(clean(`${method} ${req.label}: ${failureReason(err, req.timeoutMs)}`));
    }
    const location = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && location !== null) {
      if (!req.redirects) throw new PermanentActionError(clean(`${method} ${req.label} answered ${res.status} (a redirect); redirects are not followed`));
      if (++hops > req.redirects.max) throw new PermanentActionError(clean(`${method} ${req.label}: more than ${req.redirects.max} redirects`));
      let next: URL;
      try {
        next = new URL(location, url);
      } catch {
        throw new PermanentActionError(clean(`${method} ${req.label} redirected to an invalid URL`));
      }
      url = assertUnderBase(next.href, req.redirects.bases);
      // As browsers do: 303 becomes GET; 301 and 302 turn a POST into a GET; 307 and 308 keep both.
      if (res.status === 303 || ((res.status === 301 || res.status === 302) && method === 'POST')) {
        if (method !== 'HEAD') method = 'GET';
        body = undefined;
      }
      continue;
    }
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    const verdict = classifyStatus(res.status, req.retry409 ?? true);
    if (verdict === 'ok') return { status: res.status, url, redirects: hops, text, json, truncated };
    const detail = clean(`${method} ${req.label} answered ${res.status}: ${text.slice(0, 300)}`);
    if (verdict === 'retryable') throw new RetryableActionError(detail, parseRetryAfter(res.headers.get('retry-after')));
    throw new PermanentActionError(detail);
  }
}

// ---------------------------------------------------------------------------------------------

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']);
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Headers an action may not set: the transport's own, and Cookie (credentials belong in the settings). */
const RESERVED = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'te', 'trailer', 'expect', 'proxy-authorization', 'proxy-connection', 'cookie']);
const SECRET_HEADER = /authori[sz]ation|token|secret|key|cookie|signature|password|credential/i;

/** The context as the generic call reads it (ActuatorContext gains `http` when it is wired). */
export type HttpCallContext = ActuatorContext & { http?: HttpCallSettings };

/** What a template may read, for an action. */
export function templateScope(action: Parameters<Actuator>[0]): TemplateScope {
  const { id, incidentId, step, iteration, type, idempotencyKey } = action;
  return { params: action.params, action: { id, incidentId, step, iteration, type, idempotencyKey } };
}

/** The request an `http.call` action asks for, checked against the settings (no I/O). */
export function buildHttpCall(
  action: Parameters<Actuator>[0],
  settings: HttpCallSettings,
): { method: string; url: URL; headers: Record<string, string>; body?: string; secrets: string[] } {
  const p = action.params;
  const scope = templateScope(action);
  const method = String(p.method ?? 'POST').toUpperCase();
  if (!METHODS.has(method)) throw new PermanentActionError(`http.call: method ${method.slice(0, 20)} is not allowed (GET, HEAD, POST, PUT, PATCH, DELETE)`);
  if (typeof p.url !== 'string' || p.url === '') throw new PermanentActionError('http.call: params.url (a path or URL template) is required');
  if (p.base !== undefined && typeof p.base !== 'string') throw new PermanentActionError('http.call: params.base must be a string');
  const url = resolveUnderBase(renderString(p.url, scope, encodeURIComponent), settings.bases, p.base);

  const headers: Record<string, string> = {};
  const secrets: string[] = [];
  if (p.headers !== undefined) {
    if (typeof p.headers !== 'object' || p.headers === null || Array.isArray(p.headers)) throw new PermanentActionError('http.call: params.headers must be an object');
    for (const [name, raw] of Object.entries(p.headers)) {
      const lower = name.toLowerCase();
      if (!TOKEN.test(name)) throw new PermanentActionError(`http.call: invalid header name ${JSON.stringify(name.slice(0, 40))}`);
      if (RESERVED.has(lower)) throw new PermanentActionError(`http.call: header ${name} cannot be set by an action`);
      if (lower === 'idempotency-key') continue; // always the action's own key, below
      const value = renderString(typeof raw === 'string' ? raw : JSON.stringify(raw), scope);
      if (/[\r\n\0]/.test(value)) throw new PermanentActionError(`http.call: header ${name} has a line break or NUL`);
      headers[lower] = value;
      if (SECRET_HEADER.test(lower)) secrets.push(value);
    }
  }
  // Configured headers win over an action's (an action cannot swap the credentials).
  for (const [name, value] of Object.entries(settings.headers ?? {})) {
    headers[name.toLowerCase()] = value;
    secrets.push(value);
  }
  headers['idempotency-key'] = action.idempotencyKey;

  let body: string | undefined;
  if (p.body !== undefined) {
    if (method === 'GET' || method === 'HEAD') throw new PermanentActionError(`http.call: ${method} takes no body`);
    body = JSON.stringify(renderTemplate(p.body, scope));
    headers['content-type'] ??= 'application/json';
  }
  return { method, url, headers, body, secrets };
}

/** The generic HTTP call, reading `ctx.http`; without bases configured every call is refused. */
export const httpCallActuator: Actuator = async (action, ctx) => {
  const settings = (ctx as HttpCallContext).http;
  if (!settings || settings.bases.length === 0) throw new PermanentActionError('http.call: no outbound bases are configured (MAPEK_HTTP_BASES)');
  const req = buildHttpCall(action, settings);
  const res = await sendOutbound({
    ...req,
    timeoutMs: ctx.timeoutMs,
    label: redactText(req.url.href, req.secrets),
    retry409: true,
    redirects: settings.allowRedirects ? { bases: settings.bases, max: settings.maxRedirects ?? 5 } : undefined,
  });
  return redactOutcome(
    {
      status: res.status,
      method: req.method,
      url: res.url.href,
      redirects: res.redirects,
      response: res.json !== undefined ? res.json : res.text,
      ...(res.truncated ? { truncated: true } : {}),
    },
    req.secrets,
  );
};

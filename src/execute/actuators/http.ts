/** One HTTP call with a timeout and an Idempotency-Key, its answer classified for retries. */
import { PermanentActionError } from '../../errors.ts';
import { RetryableActionError } from './types.ts';

const MAX_RETRY_AFTER_MS = 5 * 60_000;

function retryAfter(header: string | null): number | undefined {
  if (!header) return undefined;
  const secs = Number(header);
  const ms = Number.isFinite(secs) ? secs * 1000 : Date.parse(header) - Date.now();
  return Number.isFinite(ms) && ms > 0 ? Math.min(ms, MAX_RETRY_AFTER_MS) : undefined;
}

/** POSTs JSON; 2xx resolves with the parsed body, 408/409/429/5xx and network errors are retryable, other 4xx permanent. */
export async function callJson(
  method: string,
  url: string,
  body: unknown,
  opts: { idempotencyKey: string; timeoutMs: number; headers?: Record<string, string> },
): Promise<{ status: number; body: unknown }> {
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers: { 'content-type': 'application/json', 'idempotency-key': opts.idempotencyKey, ...opts.headers },
      body: body === undefined ? undefined : JSON.stringify(body),
      redirect: 'manual',
      signal: AbortSignal.timeout(opts.timeoutMs),
    });
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } };
    const why = e.name === 'TimeoutError' ? `timed out after ${opts.timeoutMs} ms` : (e.cause?.code ?? e.message);
    throw new RetryableActionError(`${method} ${url}: ${why}`);
  }
  const text = await res.text().catch(() => '');
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    // not JSON: keep the text
  }
  if (res.status >= 200 && res.status < 300) return { status: res.status, body: parsed };
  const detail = `${method} ${url} answered ${res.status}: ${text.slice(0, 300)}`;
  if (res.status >= 500 || res.status === 408 || res.status === 409 || res.status === 429) {
    throw new RetryableActionError(detail, retryAfter(res.headers.get('retry-after')));
  }
  throw new PermanentActionError(detail);
}

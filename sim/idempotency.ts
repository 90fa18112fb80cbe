/** Idempotency-Key handling for the actuator API (CHARTER.md, "The Charter's actuator API"). */

/** An answer as first given, replayed verbatim for a repeat of the same key. */
export interface StoredAnswer {
  status: number;
  body: unknown;
}

/** What a call may do with its key. */
export type Claim =
  | { kind: 'reserved'; complete(answer: StoredAnswer): void; release(): void }
  | { kind: 'replay'; answer: StoredAnswer }
  | { kind: 'mismatch' }
  | { kind: 'in_flight' };

interface Entry {
  fingerprint: string;
  answer: StoredAnswer | undefined;
  /** Settles when the first call answers or gives its reservation back. */
  settled: Promise<void>;
  settle: () => void;
}

/** A JSON text with object keys sorted, so equal bodies compare equal whatever their key order. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  ) ?? 'null';
}

/** Keys and their first answers, in memory (a simulator keeps no state across restarts). */
export class IdempotencyLedger {
  private readonly entries = new Map<string, Entry>();

  /**
   * @param waitMs how long a concurrent repeat waits for the first call before a 409
   * @param signal aborts waiting (the simulator is closing)
   */
  constructor(private readonly waitMs: number, private readonly signal: AbortSignal) {}

  /**
   * Reserves `key` for a call identified by `fingerprint` (method, path, body), or says
   * why it cannot: a finished first call to replay, a different call (422), or a first
   * call still in flight after waiting (409).
   */
  async claim(key: string, fingerprint: string): Promise<Claim> {
    const deadline = Date.now() + this.waitMs;
    for (;;) {
      const entry = this.entries.get(key);
      if (!entry) return this.reserve(key, fingerprint);
      if (entry.fingerprint !== fingerprint) return { kind: 'mismatch' };
      if (entry.answer) return { kind: 'replay', answer: entry.answer };
      const left = deadline - Date.now();
      if (left <= 0 || this.signal.aborted) return { kind: 'in_flight' };
      await settledOrTimeout(entry.settled, left, this.signal);
    }
  }

  private reserve(key: string, fingerprint: string): Claim {
    let settle = (): void => {};
    const settled = new Promise<void>((resolve) => {
      settle = resolve;
    });
    const entry: Entry = { fingerprint, answer: undefined, settled, settle };
    this.entries.set(key, entry);
    return {
      kind: 'reserved',
      complete: (answer) => {
        entry.answer = answer;
        entry.settle();
      },
      // An injected failure had no effect, so the key is free for a retry.
      release: () => {
        if (this.entries.get(key) === entry) this.entries.delete(key);
        entry.settle();
      },
    };
  }
}

function settledOrTimeout(settled: Promise<void>, ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    void settled.then(done);
  });
}

/** Waits `ms`, or less if `signal` aborts (so closing never waits for a slow answer). */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  return settledOrTimeout(new Promise<void>(() => {}), ms, signal);
}

/**
 * Per-turn batching of wake-ups: the items handed over in one turn of the event loop (the
 * requests read in one I/O phase, the jobs finishing together) go out in one call, after that
 * turn; every caller's promise settles with it (so a wake-up still completes before the job that
 * sent it does).
 */
export class Coalescer<T> {
  private pending: T[] = [];
  private waiters: Array<{ resolve(): void; reject(err: unknown): void }> = [];

  constructor(private readonly flush: (items: T[]) => Promise<void>) {}

  add(...items: T[]): Promise<void> {
    if (this.waiters.length === 0) setImmediate(() => void this.run());
    this.pending.push(...items);
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  private async run(): Promise<void> {
    const items = this.pending;
    const waiters = this.waiters;
    this.pending = [];
    this.waiters = [];
    try {
      await this.flush(items);
      for (const w of waiters) w.resolve();
    } catch (err) {
      for (const w of waiters) w.reject(err);
    }
  }
}

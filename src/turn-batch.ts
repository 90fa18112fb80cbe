/**
 * Per-turn batching: the items handed over in one turn of the event loop (the requests read in
 * one I/O phase, the jobs finishing together) are passed on together, once, after that turn;
 * each caller gets its own item's result, or the batch's error.
 */
export class TurnBatcher<I, O> {
  private pending: Array<{ item: I; resolve(o: O): void; reject(err: unknown): void }> = [];

  /** `flush` answers with one result per item, in the items' order. */
  constructor(private readonly flush: (items: I[]) => Promise<O[]>) {}

  add(item: I): Promise<O> {
    if (this.pending.length === 0) setImmediate(() => void this.run());
    return new Promise<O>((resolve, reject) => this.pending.push({ item, resolve, reject }));
  }

  private async run(): Promise<void> {
    const batch = this.pending;
    this.pending = [];
    try {
      const results = await this.flush(batch.map((p) => p.item));
      batch.forEach((p, i) => p.resolve(results[i]!));
    } catch (err) {
      for (const p of batch) p.reject(err);
    }
  }
}

/** Per-turn batching of wake-ups: the items of one turn go out in one call; every caller waits for it. */
export class Coalescer<T> {
  private readonly batcher: TurnBatcher<T[], void>;

  constructor(flush: (items: T[]) => Promise<void>) {
    this.batcher = new TurnBatcher(async (lists) => {
      await flush(lists.flat());
      return lists.map(() => undefined);
    });
  }

  add(...items: T[]): Promise<void> {
    return this.batcher.add(items);
  }
}

/**
 * Group commit: write transactions that are requested while the event loop is busy, or while a
 * commit is under way, share one database transaction and so one COMMIT (one fsync on SQLite,
 * one WAL flush on PostgreSQL). Each write keeps its own all-or-nothing: it runs inside a
 * savepoint, a failure rolls back only its own statements and rejects only its own promise, and
 * no promise resolves before the COMMIT that made its write durable. A failed COMMIT rejects
 * every write of the batch: none of them was kept.
 *
 * The writes of one batch run one after another on one connection, in the order they were
 * requested, and see each other's effects, exactly as consecutive transactions would. A write
 * must not wait on anything but the database (no network call inside it), and must not request
 * another write through the same group (it would wait for itself).
 */
import { sql, type Kysely, type Transaction } from 'kysely';

/**
 * A write whose calls in one batch are merged into one (a multi-row insert): `write` gets every
 * call's input, in the order they were made, and answers each. They share one savepoint: if it
 * fails, every one of those calls is rejected.
 */
export interface BulkWrite<DB, I, O> {
  write(tx: Transaction<DB>, inputs: I[]): Promise<O[]>;
}

interface Pending<DB> {
  fn?: (tx: Transaction<DB>) => Promise<unknown>;
  bulk?: { write: BulkWrite<DB, unknown, unknown>; input: unknown };
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/** What runs under one savepoint: a write, or the merged calls of one bulk write. */
interface Unit<DB> {
  members: Array<Pending<DB>>;
  run(tx: Transaction<DB>): Promise<unknown[]>;
}

type Outcome = { ok: true; values: unknown[] } | { ok: false; error: unknown };

export interface GroupCommitOptions<DB> {
  /** At most this many writes share a transaction (the rest wait for the next one). */
  maxBatch: number;
  /**
   * Batches whose transactions may be under way at once (default 1). PostgreSQL: 2, so the next
   * batch has begun and waits for the chain lock on the server while this one commits.
   */
  inFlight?: number;
  /** Turns a batch may wait for more writes while each turn brings some (0: flush after the first). */
  extraTurns?: number;
  /** Runs first in every batch transaction (PostgreSQL: the audit chain's lock). */
  onBegin?: (tx: Transaction<DB>) => Promise<void>;
  /** The driver sends a query without parameters as one simple query, which may hold several statements (PostgreSQL). */
  severalStatementsPerQuery?: boolean;
  /** Told when a write was rolled back to its savepoint (state kept per transaction may be stale). */
  onRollback?: (tx: Transaction<DB>) => void;
  /** Told the size of every committed batch in writes (a bulk write's merged calls count once). */
  onCommit?: (writes: number) => void;
}

export class GroupCommit<DB> {
  private pending: Array<Pending<DB>> = [];
  /** Batches whose transaction is under way. */
  private running = 0;
  private scheduled = false;

  constructor(
    private readonly db: Kysely<DB>,
    private readonly options: GroupCommitOptions<DB>,
  ) {}

  /** Runs `fn` in a transaction shared with the writes requested alongside it; resolves once committed. */
  run<T>(fn: (tx: Transaction<DB>) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ fn, resolve: resolve as (v: unknown) => void, reject });
      this.schedule();
    });
  }

  /** Runs one call of a bulk write, merged with that write's other calls in the same batch; resolves once committed. */
  runBulk<I, O>(write: BulkWrite<DB, I, O>, input: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.pending.push({ bulk: { write: write as BulkWrite<DB, unknown, unknown>, input }, resolve: resolve as (v: unknown) => void, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.running >= (this.options.inFlight ?? 1) || this.scheduled) return;
    this.scheduled = true;
    // After the I/O phase: every request read in the same turn of the event loop joins this batch.
    // While the turns keep bringing more writes, wait for the next (at most `extraTurns`): a COMMIT
    // blocks the thread, so fewer, larger batches leave more of it for the requests.
    let seen = this.pending.length;
    let turns = 0;
    const check = () => {
      if (this.pending.length > seen && turns < (this.options.extraTurns ?? 0) && this.pending.length < this.options.maxBatch) {
        seen = this.pending.length;
        turns += 1;
        setImmediate(check);
        return;
      }
      this.scheduled = false;
      void this.flush();
    };
    setImmediate(check);
  }

  /** Runs savepoint commands: in one round trip where the server takes several statements at once. */
  private async exec(tx: Transaction<DB>, statements: string[]): Promise<void> {
    if (this.options.severalStatementsPerQuery) await sql.raw(statements.join('; ')).execute(tx);
    else for (const statement of statements) await sql.raw(statement).execute(tx);
  }

  private async flush(): Promise<void> {
    if (this.running >= (this.options.inFlight ?? 1) || this.pending.length === 0) return;
    this.running += 1;
    const batch = this.pending.splice(0, this.options.maxBatch);
    const units = toUnits(batch);
    try {
      const outcomes = await this.db.transaction().execute(async (tx) => {
        await this.options.onBegin?.(tx);
        if (units.length === 1) return [{ ok: true, values: await units[0]!.run(tx) } as Outcome];
        const done: Outcome[] = [];
        for (const [i, unit] of units.entries()) {
          const name = `mapek_w${i}`;
          // The previous write's savepoint is released as this one's is set (the last one's by COMMIT).
          await this.exec(tx, i > 0 && done[i - 1]!.ok ? [`release savepoint mapek_w${i - 1}`, `savepoint ${name}`] : [`savepoint ${name}`]);
          try {
            done.push({ ok: true, values: await unit.run(tx) });
          } catch (error) {
            await this.exec(tx, [`rollback to savepoint ${name}`, `release savepoint ${name}`]);
            this.options.onRollback?.(tx);
            done.push({ ok: false, error });
          }
        }
        return done;
      });
      this.options.onCommit?.(units.length);
      for (const [i, unit] of units.entries()) {
        const o = outcomes[i]!;
        unit.members.forEach((m, k) => (o.ok ? m.resolve(o.values[k]) : m.reject(o.error)));
      }
    } catch (error) {
      // BEGIN, COMMIT or a savepoint failed (or the one write of a batch of one threw): nothing of
      // this batch was kept.
      for (const item of batch) item.reject(error);
    } finally {
      this.running -= 1;
      if (this.pending.length > 0) this.schedule();
    }
  }
}

/** A batch as savepoint units: each write alone, each bulk write's calls together (at its first call's place). */
function toUnits<DB>(batch: Array<Pending<DB>>): Array<Unit<DB>> {
  const units: Array<Unit<DB>> = [];
  const bulks = new Map<BulkWrite<DB, unknown, unknown>, Unit<DB>>();
  for (const p of batch) {
    if (p.fn) {
      const fn = p.fn;
      units.push({ members: [p], run: async (tx) => [await fn(tx)] });
      continue;
    }
    const { write } = p.bulk!;
    let unit = bulks.get(write);
    if (!unit) {
      const members: Array<Pending<DB>> = [];
      unit = { members, run: (tx) => write.write(tx, members.map((m) => m.bulk!.input)) };
      bulks.set(write, unit);
      units.push(unit);
    }
    unit.members.push(p);
  }
  return units;
}

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

interface Pending<DB> {
  fn: (tx: Transaction<DB>) => Promise<unknown>;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

export interface GroupCommitOptions<DB> {
  /** At most this many writes share a transaction (the rest wait for the next one). */
  maxBatch: number;
  /** Runs first in every batch transaction (PostgreSQL: the audit chain's lock). */
  onBegin?: (tx: Transaction<DB>) => Promise<void>;
  /** The driver sends a query without parameters as one simple query, which may hold several statements (PostgreSQL). */
  severalStatementsPerQuery?: boolean;
  /** Told when a write was rolled back to its savepoint (state kept per transaction may be stale). */
  onRollback?: (tx: Transaction<DB>) => void;
  /** Told the size of every committed batch (for metrics and benchmarks). */
  onCommit?: (writes: number) => void;
}

export class GroupCommit<DB> {
  private pending: Array<Pending<DB>> = [];
  private running = false;
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

  /** Writes requested and not yet settled (queued or in the running batch). */
  get backlog(): number {
    return this.pending.length;
  }

  private schedule(): void {
    if (this.running || this.scheduled) return;
    this.scheduled = true;
    // After the I/O phase: every request read in the same turn of the event loop joins this batch.
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  /** Runs savepoint commands: in one round trip where the server takes several statements at once. */
  private async exec(tx: Transaction<DB>, statements: string[]): Promise<void> {
    if (this.options.severalStatementsPerQuery) await sql.raw(statements.join('; ')).execute(tx);
    else for (const statement of statements) await sql.raw(statement).execute(tx);
  }

  private async flush(): Promise<void> {
    if (this.running || this.pending.length === 0) return;
    this.running = true;
    const batch = this.pending.splice(0, this.options.maxBatch);
    try {
      const outcomes = await this.db.transaction().execute(async (tx) => {
        await this.options.onBegin?.(tx);
        if (batch.length === 1) return [{ ok: true, value: await batch[0]!.fn(tx) } as Outcome];
        const done: Outcome[] = [];
        for (const [i, item] of batch.entries()) {
          const name = `mapek_w${i}`;
          // The previous write's savepoint is released as this one's is set (the last one's by COMMIT).
          await this.exec(tx, i > 0 && done[i - 1]!.ok ? [`release savepoint mapek_w${i - 1}`, `savepoint ${name}`] : [`savepoint ${name}`]);
          try {
            done.push({ ok: true, value: await item.fn(tx) });
          } catch (error) {
            await this.exec(tx, [`rollback to savepoint ${name}`, `release savepoint ${name}`]);
            this.options.onRollback?.(tx);
            done.push({ ok: false, error });
          }
        }
        return done;
      });
      this.options.onCommit?.(batch.length);
      for (const [i, item] of batch.entries()) {
        const o = outcomes[i]!;
        if (o.ok) item.resolve(o.value);
        else item.reject(o.error);
      }
    } catch (error) {
      // BEGIN, COMMIT or a savepoint failed (or the one write of a batch of one threw): nothing of
      // this batch was kept.
      for (const item of batch) item.reject(error);
    } finally {
      this.running = false;
      if (this.pending.length > 0) this.schedule();
    }
  }
}

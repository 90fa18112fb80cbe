/**
 * Group commit on real SQLite and PostgreSQL: writes requested in one turn share a transaction,
 * a failing write is rolled back alone, and nothing resolves before its COMMIT.
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql, type Transaction } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openKnowledge, type KnowledgeDb } from '../../src/knowledge/db.ts';
import { GroupCommit, type BulkWrite } from '../../src/knowledge/group-commit.ts';
import type { Database } from '../../src/knowledge/schema.ts';
import { PG_ADMIN_URL, pgAdmin } from '../helpers/postgres.ts';

const backends = [
  (() => {
    const file = join(tmpdir(), `gc-${randomBytes(6).toString('hex')}.db`);
    return { name: 'sqlite', url: async () => `sqlite:${file}`, drop: async () => ['', '-wal', '-shm'].forEach((s) => rmSync(file + s, { force: true })) };
  })(),
  (() => {
    const db = `mapek_gc_${randomBytes(6).toString('hex')}`;
    return {
      name: 'postgres',
      url: async () => {
        await pgAdmin(`CREATE DATABASE ${db}`);
        return PG_ADMIN_URL.replace(/\/[^/]*$/, `/${db}`);
      },
      drop: () => pgAdmin(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`),
    };
  })(),
];

describe.each(backends)('group commit on $name', (backend) => {
  let handle: KnowledgeDb;
  let url: string;
  let run = 0;

  beforeAll(async () => {
    url = await backend.url();
    handle = await openKnowledge(url);
  });
  afterAll(async () => {
    await handle?.close();
    await backend.drop();
  });

  /** Writes one control row (a scratch key per test run). */
  const put = (tx: Transaction<Database>, key: string) => tx.insertInto('controls').values({ key, value: '{}', updated_at: new Date().toISOString() }).execute();
  const keys = async (prefix: string) =>
    (await handle.db.selectFrom('controls').select('key').where('key', 'like', `${prefix}%`).orderBy('key').execute()).map((r) => r.key);

  it('writes requested in one turn share one transaction; a failing one is rolled back alone', async () => {
    const prefix = `r${++run}-`;
    const batches: number[] = [];
    const group = new GroupCommit<Database>(handle.db, { maxBatch: 100, onCommit: (n) => batches.push(n) });
    const results = await Promise.allSettled(
      [0, 1, 2, 3, 4].map((i) =>
        group.run(async (tx) => {
          await put(tx, `${prefix}${i}`);
          if (i === 2) {
            await put(tx, `${prefix}2-second`);
            throw new Error('write 2 fails after two inserts');
          }
          return i;
        }),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    expect((results[2] as PromiseRejectedResult).reason.message).toBe('write 2 fails after two inserts');
    expect(results.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<number>).value)).toEqual([0, 1, 3, 4]);
    expect(batches).toEqual([5]);
    expect(await keys(prefix)).toEqual([`${prefix}0`, `${prefix}1`, `${prefix}3`, `${prefix}4`]);
  });

  it("a bulk write's calls in one batch are merged into one call, each answered; if it fails, all of them are rejected", async () => {
    const prefix = `r${++run}-`;
    const batches: number[] = [];
    const group = new GroupCommit<Database>(handle.db, { maxBatch: 100, onCommit: (n) => batches.push(n) });
    const calls: string[][] = [];
    const insertMany: BulkWrite<Database, string[], number> = {
      write: async (tx, lists) => {
        calls.push(lists.flat());
        if (lists.flat().includes('poison')) throw new Error('bulk write failed');
        await tx.insertInto('controls').values(lists.flat().map((k) => ({ key: `${prefix}${k}`, value: '{}', updated_at: 'now' }))).execute();
        return lists.map((l) => l.length);
      },
    };
    const [a, plain, b] = await Promise.all([group.runBulk(insertMany, ['a1', 'a2']), group.run((tx) => put(tx, `${prefix}plain`)), group.runBulk(insertMany, ['b1'])]);
    expect([a, b]).toEqual([2, 1]);
    expect(plain).toBeDefined();
    expect(calls).toEqual([['a1', 'a2', 'b1']]);
    expect(batches).toEqual([2]); // two writes: the merged bulk write and the plain one
    const results = await Promise.allSettled([group.runBulk(insertMany, ['c1']), group.run((tx) => put(tx, `${prefix}plain2`)), group.runBulk(insertMany, ['poison'])]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'fulfilled', 'rejected']);
    expect(await keys(prefix)).toEqual([`${prefix}a1`, `${prefix}a2`, `${prefix}b1`, `${prefix}plain`, `${prefix}plain2`]);
  });

  it('a batch that cannot begin rejects every write in it, and keeps none', async () => {
    const prefix = `r${++run}-`;
    let fail = true;
    const group = new GroupCommit<Database>(handle.db, {
      maxBatch: 100,
      onBegin: async () => {
        if (fail) throw new Error('database unavailable');
      },
    });
    const results = await Promise.allSettled([0, 1, 2].map((i) => group.run((tx) => put(tx, `${prefix}${i}`))));
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(await keys(prefix)).toEqual([]);
    // The next batch is not affected.
    fail = false;
    await group.run((tx) => put(tx, `${prefix}later`));
    expect(await keys(prefix)).toEqual([`${prefix}later`]);
  });

  it('past maxBatch the rest wait for the next transaction, in the order they were requested', async () => {
    const prefix = `r${++run}-`;
    const batches: number[] = [];
    const group = new GroupCommit<Database>(handle.db, { maxBatch: 3, onCommit: (n) => batches.push(n) });
    const order: number[] = [];
    await Promise.all(
      [0, 1, 2, 3, 4, 5, 6].map((i) =>
        group.run(async (tx) => {
          order.push(i);
          await put(tx, `${prefix}${i}`);
        }),
      ),
    );
    expect(batches).toEqual([3, 3, 1]);
    expect(order).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(await keys(prefix)).toHaveLength(7);
  });

  it('with two batches in flight, the next begins while one commits, and every write is kept once', async () => {
    const prefix = `r${++run}-`;
    const events: string[] = [];
    let begun = 0;
    const group = new GroupCommit<Database>(handle.db, {
      maxBatch: 100,
      inFlight: 2,
      onBegin: async () => {
        events.push(`begin ${++begun}`);
      },
      onCommit: (n) => events.push(`commit ${n}`),
    });
    const slow = group.run(async (tx) => {
      await put(tx, `${prefix}slow`);
      // Long enough for the next turn's write to start its own batch.
      if (handle.kind === 'postgres') await sql`select pg_sleep(0.3)`.execute(tx);
      else await new Promise((r) => setTimeout(r, 300));
    });
    await new Promise((r) => setTimeout(r, 50));
    const next = group.run((tx) => put(tx, `${prefix}next`));
    await Promise.all([slow, next]);
    expect(await keys(prefix)).toEqual([`${prefix}next`, `${prefix}slow`]);
    // PostgreSQL: a second connection, so the second batch began before the first committed.
    // SQLite: one connection, so it waited for it.
    expect(events).toEqual(handle.kind === 'postgres' ? ['begin 1', 'begin 2', 'commit 1', 'commit 1'] : ['begin 1', 'commit 1', 'begin 2', 'commit 1']);
  });

  it('a write resolves only after the COMMIT: another connection sees it by then', async () => {
    const prefix = `r${++run}-`;
    const group = new GroupCommit<Database>(handle.db, { maxBatch: 100 });
    // A second, independent connection (pool) on the same database.
    const other = await openKnowledge(url);
    try {
      await Promise.all([0, 1].map((i) => group.run((tx) => put(tx, `${prefix}${i}`))));
      const seen = await other.db.selectFrom('controls').select('key').where('key', 'like', `${prefix}%`).execute();
      expect(seen).toHaveLength(2);
    } finally {
      await other.close();
    }
  });
});

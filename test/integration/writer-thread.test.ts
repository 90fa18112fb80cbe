/**
 * The knowledge writer thread (writer.ts) on a real SQLite file: recordObservations runs on a
 * worker thread with its own connection, group-committed there, taking turns with the main
 * thread's transactions by the shared WriteLock, so the audit chain stays one line.
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Worker } from 'node:worker_threads';
import { sql } from 'kysely';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Clock } from '../../src/clock.ts';
import { openKnowledge, type KnowledgeDb } from '../../src/knowledge/db.ts';
import { KnowledgeStore, type NewObservation } from '../../src/knowledge/store.ts';
import type { WriteLock } from '../../src/knowledge/write-lock.ts';
import { observationsFromWebhook, parseWebhook } from '../../src/monitor/alertmanager.ts';

const files: string[] = [];
const open: KnowledgeDb[] = [];

afterEach(async () => {
  for (const h of open.splice(0)) await h.close().catch(() => {});
});

afterAll(() => {
  for (const file of files) for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
});

const systemClock: Clock = { now: () => Date.now() };

/** A fresh SQLite file's URL (removed after the tests). */
function tempUrl(): string {
  const file = join(tmpdir(), `wt-${randomBytes(6).toString('hex')}.db`);
  files.push(file);
  return `sqlite:${file}`;
}

async function openStore(clock: Clock = systemClock, url = tempUrl()) {
  const handle = await openKnowledge(url, { writerThread: true });
  open.push(handle);
  expect(handle.writer).toBeDefined();
  return { url, handle, store: new KnowledgeStore(handle, clock) };
}

/** Closes a handle a test opened itself (so afterEach does not close it again). */
async function closeOwn(handle: KnowledgeDb): Promise<void> {
  const i = open.indexOf(handle);
  if (i >= 0) open.splice(i, 1);
  await handle.close();
}

/** One observation as the monitor builds it (an Alertmanager webhook, parsed). */
function alertObservation(node: string, fingerprint: string): NewObservation {
  const labels = { alertname: 'CriticalViolationDetected', node_or_service: node, severity: 'critical' };
  const [obs] = observationsFromWebhook(
    parseWebhook({
      version: '4',
      status: 'firing',
      receiver: 'mapek',
      truncatedAlerts: 0,
      alerts: [{ status: 'firing', labels, annotations: { summary: `violation on ${node}` }, startsAt: '2030-01-01T00:00:00Z', endsAt: '0001-01-01T00:00:00Z', fingerprint }],
    }),
  );
  return obs!;
}

/** One sensor observation, built directly. */
function sensorObservation(id: string): NewObservation {
  return { id, source: 'sensor', dedupKey: `dk-${id}`, name: 'validation_latency', status: 'sample', fingerprint: `fp-${id}`, labels: { sensor: 'latency', n: id }, payload: { value: id.length } };
}

async function countRows(db: KnowledgeDb['db'], ids?: string[]): Promise<number> {
  let q = db.selectFrom('observations').select((eb) => eb.fn.countAll<number>().as('n'));
  if (ids) q = q.where('id', 'in', ids);
  return Number((await q.executeTakeFirstOrThrow()).n);
}

const workerOf = (handle: KnowledgeDb) => (handle.writer as unknown as { worker?: Worker }).worker;
const lockState = (handle: KnowledgeDb) => new Int32Array((handle.writer as unknown as { lock: WriteLock }).lock.buffer);

/** Waits (yielding to the event loop) until `probe` holds, at most `timeoutMs`. */
async function waitFor(what: string, probe: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

const settle = <T>(p: Promise<T>) =>
  p.then(
    (value) => ({ ok: true as const, value }),
    (error: Error & { code?: string }) => ({ ok: false as const, error }),
  );

describe('knowledge writer thread (SQLite)', () => {
  it('is not started for :memory: and is started for a file', async () => {
    const mem = await openKnowledge('sqlite::memory:', { writerThread: true });
    try {
      expect(mem.writer).toBeUndefined();
    } finally {
      await mem.close();
    }
    const { handle } = await openStore();
    expect(workerOf(handle)).toBeDefined();
    expect(handle.durability).toMatch(/writer thread/);
  });

  it('many concurrent calls: each observation stored and chained once, duplicates counted per caller, group-committed on the thread, one audit chain with concurrent main-thread writes', async () => {
    const { handle, store } = await openStore();
    // Warm the thread (its first call also loads the modules there).
    await store.recordObservations([sensorObservation('warm')]);
    const writerBatches: number[] = [];
    const storeOnCommit = handle.writer!.onCommit;
    handle.writer!.onCommit = (n) => {
      writerBatches.push(n);
      storeOnCommit?.(n);
    };
    const before = { ...store.batchStats };

    // 300 calls: 200 distinct alerts, each third one repeated by a later call (an HA pair), and
    // every tenth call carries a second, unique observation too.
    const CALLS = 300;
    const lists: NewObservation[][] = [];
    for (let i = 0; i < CALLS; i++) {
      const list = [alertObservation(`node-${i % 200}`, `fp-${i % 200}`)];
      if (i % 10 === 0) list.push(sensorObservation(`extra-${i}`));
      lists.push(list);
    }
    const distinct = new Set(lists.flat().map((o) => o.id));
    expect(distinct.size).toBe(230);

    const calls = lists.map((list) => store.recordObservations(list));
    // Main-thread writes at the same time, chained into the same ledger.
    const mainWrites: Array<Promise<unknown>> = [];
    for (let i = 0; i < 30; i++) {
      mainWrites.push(i % 3 === 2 ? store.setBrake({ engaged: i % 2 === 0, by: `t${i}` }) : store.setPause({ paused: i % 2 === 0, by: `t${i}` }));
      if (i % 5 === 0) await new Promise((r) => setImmediate(r));
    }
    const results = await Promise.all(calls);
    await Promise.all(mainWrites);

    // Every distinct observation was new to exactly one caller; every other copy was a duplicate.
    const insertedBy = new Map<string, number>();
    for (const r of results) for (const id of r.inserted) insertedBy.set(id, (insertedBy.get(id) ?? 0) + 1);
    expect(insertedBy.size).toBe(distinct.size);
    expect([...insertedBy.values()].every((n) => n === 1)).toBe(true);
    const totalDuplicates = results.reduce((s, r) => s + r.duplicates, 0);
    expect(totalDuplicates).toBe(lists.flat().length - distinct.size);
    results.forEach((r, i) => expect(r.inserted.length + r.duplicates).toBe(lists[i]!.length));

    // Stored once, and chained once.
    expect(await countRows(handle.db, [...distinct])).toBe(distinct.size);
    expect(await countRows(handle.db)).toBe(distinct.size + 1);
    const chained = await handle.db.selectFrom('audit_ledger').select('row_key').distinct().where('tbl', '=', 'observations').execute();
    expect(chained).toHaveLength(distinct.size + 1);

    // Group commit happened on the thread: far fewer batches than calls.
    expect(writerBatches.length).toBeGreaterThan(0);
    expect(writerBatches.length).toBeLessThan(CALLS);
    const batches = store.batchStats.batches - before.batches;
    expect(batches).toBeLessThan(CALLS);
    expect(batches).toBeGreaterThanOrEqual(writerBatches.length);
    expect(store.batchStats.writes - before.writes).toBeGreaterThan(0);

    const audit = await store.verifyAudit();
    expect(audit.problems).toEqual([]);
    expect(audit.ok).toBe(true);
    // Every observation and every main-thread control write is one link of the one chain.
    expect(audit.links).toBeGreaterThanOrEqual(distinct.size + 1 + 20);
  });

  it('an observation that comes twice in one batch is stored and chained once', async () => {
    const { handle, store } = await openStore();
    await store.recordObservations([sensorObservation('twice-warm')]);
    const a = alertObservation('node-twice', 'fp-twice');
    const b = sensorObservation('twice-b');
    // Requested in one turn: one batch on the thread (an HA pair of Alertmanagers, and a repeat within one webhook).
    const results = await Promise.all([store.recordObservations([a]), store.recordObservations([a]), store.recordObservations([b, b])]);
    expect(results).toEqual([
      { inserted: [a.id], duplicates: 0 },
      { inserted: [], duplicates: 1 },
      { inserted: [b.id], duplicates: 1 },
    ]);
    expect(await countRows(handle.db, [a.id, b.id])).toBe(2);
    const links = await handle.db.selectFrom('audit_ledger').select('row_key').where('tbl', '=', 'observations').where('row_key', 'in', [a.id, b.id]).orderBy('seq').execute();
    // One write each, so one link each (the repeat changed nothing and must not be chained as a write).
    expect(links.map((l) => l.row_key)).toEqual([a.id, b.id]);
    expect((await store.verifyAudit()).ok).toBe(true);
  });

  it('writes the times of the caller\'s clock, not the thread\'s', async () => {
    let t = Date.parse('2030-01-01T00:00:00Z');
    const { handle, store } = await openStore({ now: () => t });
    const first = sensorObservation('clock-1');
    expect(await store.recordObservations([first])).toEqual({ inserted: ['clock-1'], duplicates: 0 });
    t = Date.parse('2031-02-03T04:05:06.789Z');
    const second = alertObservation('node-clock', 'fp-clock');
    expect((await store.recordObservations([second])).inserted).toEqual([second.id]);

    const rows = await handle.db.selectFrom('observations').select(['id', 'received_at']).orderBy('received_at').execute();
    expect(rows).toEqual([
      { id: 'clock-1', received_at: '2030-01-01T00:00:00.000Z' },
      { id: second.id, received_at: '2031-02-03T04:05:06.789Z' },
    ]);
    const linkTimes = await handle.db.selectFrom('audit_ledger').select(['row_key', 'at']).where('tbl', '=', 'observations').orderBy('seq').execute();
    expect(linkTimes).toEqual([
      { row_key: 'clock-1', at: '2030-01-01T00:00:00.000Z' },
      { row_key: second.id, at: '2031-02-03T04:05:06.789Z' },
    ]);
  });

  it('a thread that dies while idle is restarted by the next call', async () => {
    const { handle, store } = await openStore();
    await store.recordObservations([sensorObservation('idle-before')]);
    const old = workerOf(handle)!;
    const exited = new Promise<number>((r) => old.once('exit', r));
    await old.terminate();
    await exited;
    const res = await store.recordObservations([sensorObservation('idle-after')]);
    expect(res.inserted).toEqual(['idle-after']);
    expect(workerOf(handle)).toBeDefined();
    expect(workerOf(handle)).not.toBe(old);
    expect(await countRows(handle.db, ['idle-before', 'idle-after'])).toBe(2);
    expect((await store.verifyAudit()).ok).toBe(true);
  });

  it('a thread that dies in the middle of a batch: the calls in flight reject, the next call restarts it and is stored', async () => {
    const { handle, store } = await openStore();
    await store.recordObservations([sensorObservation('dying-before')]);
    const old = workerOf(handle)!;
    const lock = lockState(handle);
    // Keep the thread busy, and terminate it while it holds the write lock (inside its transaction).
    const inFlight = Array.from({ length: 400 }, (_, i) => settle(store.recordObservations([sensorObservation(`dying-${i}`)])));
    await waitFor('the writer thread to hold the write lock', () => Atomics.load(lock, 0) === 2);
    await old.terminate();
    const outcomes = await Promise.all(inFlight);
    const failed = outcomes.filter((o) => !o.ok);
    expect(failed.length).toBeGreaterThan(0);
    for (const f of failed) expect(f.error).toMatchObject({ name: 'WriterStopped' });
    // What was answered was committed. (What failed may have been committed too, when the thread
    // died between its COMMIT and its answer: the callers' retries find it a duplicate.)
    const answered = outcomes.flatMap((o, i) => (o.ok ? [`dying-${i}`] : []));
    const lost = outcomes.flatMap((o, i) => (o.ok ? [] : [`dying-${i}`]));
    expect(await countRows(handle.db, answered)).toBe(answered.length);

    // The dead thread must not leave the write lock taken: the next calls (and the main thread) go on.
    const after = await settle(store.recordObservations([sensorObservation('dying-after')]));
    expect(after.ok ? after.value : after.error).toEqual({ inserted: ['dying-after'], duplicates: 0 });
    expect(workerOf(handle)).toBeDefined();
    expect(workerOf(handle)).not.toBe(old);
    expect(await countRows(handle.db, ['dying-after'])).toBe(1);
    const brake = await settle(store.setBrake({ engaged: true, by: 'after-crash' }));
    expect(brake.ok ? brake.value.engaged : brake.error).toBe(true);
    // The callers retry what failed (webhook 503, BullMQ retry): every observation is stored once then.
    const retried = await store.recordObservations(lost.map((id) => sensorObservation(id)));
    expect(retried.inserted.length + retried.duplicates).toBe(lost.length);
    expect(await countRows(handle.db)).toBe(1 + 400 + 1);
    const audit = await store.verifyAudit();
    expect(audit.problems).toEqual([]);
  });

  it('main-thread and writer-thread writes at the same moment both succeed without sleeping in the busy handler', async () => {
    const { handle, store } = await openStore();
    await store.recordObservations([sensorObservation('rounds-warm')]);
    const loopDelay = monitorEventLoopDelay({ resolution: 10 });
    loopDelay.enable();
    const roundMs: number[] = [];
    const started = Date.now();
    try {
      for (let i = 0; i < 50; i++) {
        const t0 = performance.now();
        const [rec, brake] = await Promise.all([store.recordObservations([sensorObservation(`round-${i}`)]), store.setBrake({ engaged: i % 2 === 0, by: `round-${i}` })]);
        roundMs.push(performance.now() - t0);
        expect(rec).toEqual({ inserted: [`round-${i}`], duplicates: 0 });
        expect(brake.engaged).toBe(i % 2 === 0);
      }
    } finally {
      loopDelay.disable();
    }
    // Generous bounds (a shared two-core box): SQLite's busy timeout is 3 s, and a round that met
    // it would have failed with SQLITE_BUSY or taken that long.
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(Math.max(...roundMs)).toBeLessThan(2_500);
    // The main thread never slept long in SQLite (a busy-handler sleep blocks the event loop).
    expect(loopDelay.max / 1e6).toBeLessThan(1_000);
    expect(await countRows(handle.db)).toBe(51);
    expect((await store.brakeState()).engaged).toBe(false);
    const audit = await store.verifyAudit();
    expect(audit.problems).toEqual([]);
    // 51 observations and the brake's changes, each a link.
    expect(audit.links).toBeGreaterThanOrEqual(51 + 50);
  });

  it('close() waits for the calls in flight; their rows are on disk; later calls are refused', async () => {
    const { url, handle, store } = await openStore();
    await store.recordObservations([sensorObservation('close-warm')]);
    const calls = Array.from({ length: 60 }, (_, i) => settle(store.recordObservations([sensorObservation(`close-${i}`)])));
    const old = workerOf(handle)!;
    await closeOwn(handle);
    // close() returned: the thread has stopped (not terminated: every call in flight was answered).
    expect(old.threadId).toBe(-1);
    const outcomes = await Promise.all(calls);
    expect(outcomes.filter((o) => !o.ok).map((o) => (o.ok ? null : o.error.message))).toEqual([]);
    outcomes.forEach((o, i) => expect(o.ok && o.value).toEqual({ inserted: [`close-${i}`], duplicates: 0 }));
    const refused = await settle(store.recordObservations([sensorObservation('close-late')]));
    expect(refused.ok).toBe(false);
    if (!refused.ok) expect(refused.error.name).toBe('WriterStopped');

    const reopened = await openKnowledge(url);
    try {
      expect(reopened.writer).toBeUndefined();
      expect(await countRows(reopened.db)).toBe(61);
      expect(await countRows(reopened.db, ['close-late'])).toBe(0);
      const audit = await new KnowledgeStore(reopened, systemClock).verifyAudit();
      expect(audit.problems).toEqual([]);
      expect(audit.links).toBe(61);
    } finally {
      await reopened.close();
    }
  });

  it('another writer holding the file: the call rejects with SQLITE_BUSY after the busy timeout instead of hanging, off the event loop; then succeeds', async () => {
    const { url, handle, store } = await openStore();
    await store.recordObservations([sensorObservation('busy-warm')]);
    // A second connection (as another process would be) holds the write lock of the file.
    const other = await openKnowledge(url);
    open.push(other);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let holding!: () => void;
    const held = new Promise<void>((r) => (holding = r));
    const blocker = other.db.transaction().execute(async (tx) => {
      await sql`select 1`.execute(tx);
      holding();
      await gate;
    });
    await held;
    let ticks = 0;
    const ticker = setInterval(() => (ticks += 1), 50);
    const started = Date.now();
    let busy: Awaited<ReturnType<typeof settle>>;
    try {
      busy = await settle(store.recordObservations([sensorObservation('busy-1')]));
    } finally {
      clearInterval(ticker);
    }
    const waited = Date.now() - started;
    expect(busy.ok).toBe(false);
    if (!busy.ok) expect(busy.error).toMatchObject({ code: 'SQLITE_BUSY' });
    expect(waited).toBeGreaterThanOrEqual(2_500);
    expect(waited).toBeLessThan(10_000);
    // The wait was in the writer thread: the main event loop kept running meanwhile.
    expect(ticks).toBeGreaterThan(10);

    release();
    await blocker;
    const ok = await store.recordObservations([sensorObservation('busy-1')]);
    expect(ok).toEqual({ inserted: ['busy-1'], duplicates: 0 });
    expect(await countRows(handle.db, ['busy-1'])).toBe(1);
    expect((await store.verifyAudit()).ok).toBe(true);
  }, 30_000);
});

/**
 * The write lock between the main thread and the knowledge writer thread (write-lock.ts), played
 * in one thread: two WriteLock objects over the same shared buffer are the two sides.
 */
import { describe, expect, it } from 'vitest';
import { WriteLock, WriteLockTimeout } from '../../src/knowledge/write-lock.ts';

const HOLDER = 0;
const MAIN_WAITING = 1;
const FREE = 0;
const MAIN = 1;
const WRITER = 2;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The main side and the writer side of one lock, and a view of its shared state. */
function pair() {
  const main = new WriteLock();
  const writer = new WriteLock(main.buffer, 'writer');
  const state = new Int32Array(main.buffer);
  return { main, writer, holder: () => Atomics.load(state, HOLDER), mainWaiting: () => Atomics.load(state, MAIN_WAITING) };
}

/** A promise's outcome so far, without waiting for it. */
function track(p: Promise<unknown>) {
  const t = { settled: false, error: undefined as unknown };
  p.then(
    () => (t.settled = true),
    (err: unknown) => {
      t.settled = true;
      t.error = err;
    },
  );
  return t;
}

describe('WriteLock', () => {
  it('the main side takes a free lock at once, and release frees it', async () => {
    const { main, holder, mainWaiting } = pair();
    expect(holder()).toBe(FREE);
    const started = performance.now();
    await main.acquire(1000);
    expect(performance.now() - started).toBeLessThan(500);
    expect(holder()).toBe(MAIN);
    expect(mainWaiting()).toBe(0);
    main.release();
    expect(holder()).toBe(FREE);
  });

  it('the writer side takes a free lock when no main-side acquire waits', async () => {
    const { writer, holder } = pair();
    await writer.acquire(1000);
    expect(holder()).toBe(WRITER);
    writer.release();
    expect(holder()).toBe(FREE);
  });

  it('a second acquire waits until the holder releases', async () => {
    const { main, holder, mainWaiting } = pair();
    const order: string[] = [];
    await main.acquire(1000);
    order.push('first acquired');
    const second = main.acquire(5000).then(() => order.push('second acquired'));
    const t = track(second);
    // Several of the lock's polling intervals pass: it must still be waiting.
    await sleep(200);
    expect(t.settled).toBe(false);
    expect(mainWaiting()).toBe(1);
    expect(holder()).toBe(MAIN);
    order.push('released');
    main.release();
    await second;
    expect(order).toEqual(['first acquired', 'released', 'second acquired']);
    expect(holder()).toBe(MAIN);
    expect(mainWaiting()).toBe(0);
    main.release();
  });

  it('a main-side acquire waits for the writer side to release', async () => {
    const { main, writer, holder } = pair();
    const order: string[] = [];
    await writer.acquire(1000);
    const waiting = main.acquire(5000).then(() => order.push('main acquired'));
    const t = track(waiting);
    await sleep(150);
    expect(t.settled).toBe(false);
    expect(holder()).toBe(WRITER);
    order.push('writer released');
    writer.release();
    await waiting;
    expect(order).toEqual(['writer released', 'main acquired']);
    expect(holder()).toBe(MAIN);
    main.release();
  });

  it('the writer side does not retake the lock while a main-side acquire waits: main goes first', async () => {
    const { main, writer, holder, mainWaiting } = pair();
    const order: string[] = [];
    await writer.acquire(1000);
    const mainTurn = main.acquire(5000).then(() => {
      order.push('main');
      expect(holder()).toBe(MAIN);
    });
    await sleep(20);
    expect(mainWaiting()).toBe(1);
    // The writer releases and at once asks again (as it does between two batches).
    writer.release();
    const writerTurn = writer.acquire(5000).then(() => {
      order.push('writer');
      expect(holder()).toBe(WRITER);
    });
    await mainTurn;
    // Main holds it now; the writer waits for main's release, however long.
    await sleep(100);
    expect(order).toEqual(['main']);
    main.release();
    await writerTurn;
    expect(order).toEqual(['main', 'writer']);
    expect(mainWaiting()).toBe(0);
    writer.release();
    expect(holder()).toBe(FREE);
  });

  it('the writer side yields to several waiting main-side acquires', async () => {
    const { main, writer, mainWaiting } = pair();
    const order: string[] = [];
    await writer.acquire(1000);
    const mains = [1, 2, 3].map((i) =>
      main.acquire(5000).then(() => {
        order.push(`main ${i}`);
        // Each main turn is short, as a main-thread transaction is; then the next.
        setTimeout(() => main.release(), 5);
      }),
    );
    await sleep(20);
    expect(mainWaiting()).toBe(3);
    writer.release();
    const writerTurn = writer.acquire(5000).then(() => order.push('writer'));
    await Promise.all([...mains, writerTurn]);
    expect(order.slice(0, 3).sort()).toEqual(['main 1', 'main 2', 'main 3']);
    expect(order[3]).toBe('writer');
    expect(mainWaiting()).toBe(0);
    writer.release();
  });

  it('a main-side acquire that times out rejects with WriteLockTimeout (SQLITE_BUSY) and stops counting as waiting', async () => {
    const { main, writer, holder, mainWaiting } = pair();
    await writer.acquire(1000);
    const started = performance.now();
    const attempt = main.acquire(150);
    await sleep(20);
    expect(mainWaiting()).toBe(1);
    const err = await attempt.then(
      () => undefined,
      (e: unknown) => e,
    );
    const waited = performance.now() - started;
    expect(err).toBeInstanceOf(WriteLockTimeout);
    expect(err).toMatchObject({ name: 'WriteLockTimeout', code: 'SQLITE_BUSY' });
    expect((err as Error).message).toMatch(/150 ms/);
    expect(waited).toBeGreaterThanOrEqual(140);
    expect(waited).toBeLessThan(3000);
    // The timed-out waiter no longer holds the writer back, and the lock is still the writer's.
    expect(mainWaiting()).toBe(0);
    expect(holder()).toBe(WRITER);
    writer.release();
    // The writer side takes it again promptly (it would yield until its own timeout if the waiter were still counted).
    const again = performance.now();
    await writer.acquire(2000);
    expect(performance.now() - again).toBeLessThan(1000);
    expect(holder()).toBe(WRITER);
    writer.release();
  });

  it('a writer-side acquire times out the same way while main holds the lock', async () => {
    const { main, writer, holder } = pair();
    await main.acquire(1000);
    const err = await writer.acquire(100).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(WriteLockTimeout);
    expect(err).toMatchObject({ code: 'SQLITE_BUSY' });
    expect(holder()).toBe(MAIN);
    main.release();
    await writer.acquire(1000);
    expect(holder()).toBe(WRITER);
    writer.release();
  });

  it('a writer-side acquire with a main side waiting forever times out rather than taking the lock', async () => {
    const { main, writer, holder } = pair();
    await main.acquire(1000);
    // A main-side acquire waits (for main's own release): the lock is held, and main is waiting.
    const mainSecond = main.acquire(5000);
    const err = await writer.acquire(100).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(WriteLockTimeout);
    main.release();
    await mainSecond;
    expect(holder()).toBe(MAIN);
    main.release();
  });
});

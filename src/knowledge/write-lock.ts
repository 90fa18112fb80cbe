/**
 * The write lock between the threads of one process that write one SQLite file: the main thread
 * and the knowledge writer thread (writer.ts). SQLite lets one writer in at a time and makes the
 * others wait in its busy handler, which sleeps the thread; on the main thread that would stall
 * every request. So the two threads take turns here first, waiting asynchronously, and then
 * `BEGIN IMMEDIATE` finds the file free (other processes still meet SQLite's busy timeout).
 *
 * The state is two integers in shared memory: who holds the lock, and how many main-thread
 * transactions are waiting. The writer thread lets waiting main-thread transactions in first:
 * it commits batch after batch under load and would otherwise take every turn.
 */

const HOLDER = 0;
const MAIN_WAITING = 1;
const FREE = 0;

/** Which side takes the lock: the main thread, or the writer thread (which yields to main). */
export type LockSide = 'main' | 'writer';

export class WriteLockTimeout extends Error {
  override readonly name = 'WriteLockTimeout';
  readonly code = 'SQLITE_BUSY';
}

export class WriteLock {
  private readonly state: Int32Array;

  /** A new lock, or (with `buffer`) the same lock as seen from another thread. */
  constructor(
    readonly buffer: SharedArrayBuffer = new SharedArrayBuffer(8),
    private readonly side: LockSide = 'main',
  ) {
    this.state = new Int32Array(buffer);
  }

  /** Takes the lock, waiting at most `timeoutMs` (then rejects with an SQLITE_BUSY error). */
  async acquire(timeoutMs: number): Promise<void> {
    const me = holderValue(this.side);
    const deadline = performance.now() + timeoutMs;
    const waiting = this.side === 'main';
    if (waiting) Atomics.add(this.state, MAIN_WAITING, 1);
    try {
      for (;;) {
        const yieldToMain = this.side === 'writer' && Atomics.load(this.state, MAIN_WAITING) > 0;
        const holder = Atomics.load(this.state, HOLDER);
        if (!yieldToMain && holder === FREE && Atomics.compareExchange(this.state, HOLDER, FREE, me) === FREE) return;
        const left = deadline - performance.now();
        if (left <= 0) throw new WriteLockTimeout(`knowledge store busy: the write lock was not free within ${timeoutMs} ms`);
        // Woken by a release (or by main taking it, when yielding); short waits cover a missed wake.
        const ms = Math.min(left, yieldToMain ? 1 : 50);
        const wait = Atomics.waitAsync(this.state, HOLDER, holder, ms);
        if (wait.async) {
          // A wait in shared memory is no pending work to Node: this timer keeps the process up meanwhile.
          const alive = setTimeout(() => {}, ms);
          await wait.value;
          clearTimeout(alive);
        }
      }
    } finally {
      if (waiting) Atomics.sub(this.state, MAIN_WAITING, 1);
    }
  }

  /** Gives the lock back; nothing when this side does not hold it (a second release after a failed COMMIT). */
  release(): void {
    this.releaseIfHeldBy(this.side);
  }

  /** Frees the lock if `side` holds it: the main thread does so for a writer thread that died holding it. */
  releaseIfHeldBy(side: LockSide): void {
    const who = holderValue(side);
    if (Atomics.compareExchange(this.state, HOLDER, who, FREE) === who) Atomics.notify(this.state, HOLDER);
  }
}

function holderValue(side: LockSide): number {
  return side === 'main' ? 1 : 2;
}

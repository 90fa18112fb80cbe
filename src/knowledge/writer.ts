/**
 * The knowledge writer thread (main side). On SQLite every statement and every fsynced COMMIT runs
 * on the thread that calls it; for the store's hot bulk writes (the webhooks' observations, action
 * starts and finishes) that thread is a worker with its own connection, so the event loop goes on
 * reading requests and calling actuators meanwhile. The worker runs the same KnowledgeStore code
 * (writer-worker.ts), group-commits what arrives together, and answers each call once its COMMIT
 * is on disk: a 202 still means durable. Both threads write the one file, taking turns by the
 * shared WriteLock; the chain's head is read under it, so the audit chain stays one line.
 *
 * The thread starts with the store and is restarted on the next call if it ever dies; calls in
 * flight then fail and are retried by their callers (webhook 503, the sensor tick's retry). A
 * call may fail after its COMMIT (the thread died before answering): its retry then finds a
 * duplicate, as after any lost answer. A thread that dies holding the write lock loses it: SQLite
 * rolls its transaction back, and the main thread frees the lock.
 */
import { Worker } from 'node:worker_threads';
import type { WriteLock } from './write-lock.ts';

/** The store methods that run on the writer thread; their arguments and answers are plain data. */
export type WriterOp = 'recordObservations';

/** main → writer: a call, or the request to close. */
export type ToWriter = { id: number; op: WriterOp; args: unknown[]; now: number } | { close: true };

/** writer → main: an answer, or a committed batch (its size in writes, for /metrics). */
export type FromWriter =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: { name: string; message: string; code?: string } }
  | { committed: number };

interface Call {
  resolve(value: unknown): void;
  reject(error: Error): void;
}

/** A call that did not answer because the writer thread stopped. */
export class WriterStopped extends Error {
  override readonly name = 'WriterStopped';
}

export class WriterThread {
  private worker?: Worker;
  private readonly calls = new Map<number, Call>();
  private nextId = 1;
  private closing = false;
  /** Told of every batch the thread committed (its size in writes). */
  onCommit?: (writes: number) => void;

  constructor(
    private readonly file: string,
    private readonly lock: WriteLock,
  ) {
    this.start();
  }

  private start(): Worker {
    const worker = new Worker(new URL('./writer-entry.mjs', import.meta.url), {
      workerData: { file: this.file, lock: this.lock.buffer },
    });
    worker.unref();
    worker.on('message', (msg: FromWriter) => this.receive(msg));
    // 'error' is followed by 'exit': the thread is gone (and a new one may start) only then.
    let why = '';
    worker.on('error', (err) => (why = err.message));
    worker.on('exit', (code) => {
      if (this.worker === worker) this.worker = undefined;
      this.lock.releaseIfHeldBy('writer');
      for (const [id, call] of this.calls) {
        this.calls.delete(id);
        call.reject(new WriterStopped(`knowledge writer thread stopped: ${why || `exit code ${code}`}`));
      }
    });
    this.worker = worker;
    return worker;
  }

  private receive(msg: FromWriter): void {
    if ('committed' in msg) {
      this.onCommit?.(msg.committed);
      return;
    }
    const call = this.calls.get(msg.id);
    if (!call) return;
    this.calls.delete(msg.id);
    if (this.calls.size === 0) this.worker?.unref();
    if (msg.ok) call.resolve(msg.value);
    else call.reject(Object.assign(new Error(msg.error.message), { name: msg.error.name, code: msg.error.code }));
  }

  /** Runs store.`op`(...args) on the writer thread, with the caller's clock reading `now`. */
  call<T>(op: WriterOp, args: unknown[], now: number): Promise<T> {
    if (this.closing) return Promise.reject(new WriterStopped('knowledge writer thread closed'));
    const worker = this.worker ?? this.start();
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.calls.set(id, { resolve: resolve as (v: unknown) => void, reject });
      // Kept alive while a call waits for its answer (a one-shot command must not exit before it).
      if (this.calls.size === 1) worker.ref();
      worker.postMessage({ id, op, args, now } satisfies ToWriter);
    });
  }

  /** Lets the calls in flight finish, then stops the thread (at most `timeoutMs`). */
  async close(timeoutMs = 5000): Promise<void> {
    this.closing = true;
    const worker = this.worker;
    if (!worker) return;
    worker.ref();
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.postMessage({ close: true } satisfies ToWriter);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), timeoutMs)));
    if ((await Promise.race([exited, late])) === 'late') await worker.terminate();
    clearTimeout(timer);
  }
}

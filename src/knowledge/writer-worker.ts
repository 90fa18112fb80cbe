/**
 * The knowledge writer thread (its side; writer.ts starts it). It opens its own connection to the
 * SQLite file and runs the main thread's calls on the same KnowledgeStore code, so what arrives
 * together is group-committed together. Each call carries the caller's clock reading: the times
 * written are the caller's (a test's clock, too).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openSqlite } from './db.ts';
import { KnowledgeStore } from './store.ts';
import type { FromWriter, ToWriter, WriterOp } from './writer.ts';
import { WriteLock } from './write-lock.ts';

const { file, lock } = workerData as { file: string; lock: SharedArrayBuffer };
const db = openSqlite(file, new WriteLock(lock, 'writer'));
let now = Date.now();
const store = new KnowledgeStore({ db, kind: 'sqlite', durability: 'writer thread', close: () => db.destroy() }, { now: () => now });
const port = parentPort!;
const post = (msg: FromWriter) => port.postMessage(msg);
store.onCommit = (writes) => post({ committed: writes });

const ops: Record<WriterOp, (...args: never[]) => Promise<unknown>> = {
  recordObservations: (...a: Parameters<KnowledgeStore['recordObservations']>) => store.recordObservations(...a),
};

let inFlight = 0;
let closing = false;
const closeWhenIdle = async () => {
  if (!closing || inFlight > 0) return;
  await store.close();
  port.close();
};

port.on('message', (msg: ToWriter) => {
  if ('close' in msg) {
    closing = true;
    void closeWhenIdle();
    return;
  }
  now = msg.now;
  inFlight += 1;
  (ops[msg.op] as (...args: unknown[]) => Promise<unknown>)(...msg.args).then(
    (value) => post({ id: msg.id, ok: true, value }),
    (err: Error & { code?: string }) => post({ id: msg.id, ok: false, error: { name: err.name, message: err.message, code: err.code } }),
  ).finally(() => {
    inFlight -= 1;
    void closeWhenIdle();
  });
});

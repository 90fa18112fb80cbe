/**
 * What the intake, execute and knowledge benchmarks share: the machine and tree they ran on, a
 * scratch PostgreSQL database, cleaning a queue prefix out of Redis, and the SQLite/PostgreSQL
 * commit floors.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { join } from 'node:path';
import Sqlite from 'better-sqlite3';
import { Queue, type ConnectionOptions } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import { latencySummary, progress, round } from './stats.ts';

export const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
/** The server the PostgreSQL figures use (trust auth); the bench creates and drops its own database there. */
export const PG_ADMIN_URL = process.env.BENCH_PG_URL || 'postgres://postgres@127.0.0.1:5432/postgres';

/** The commit measured, and how many tracked files differ from it (others edit the tree concurrently). */
export function gitState(): { commit: string | null; modifiedTrackedFiles: number | null } {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const status = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return { commit, modifiedTrackedFiles: status.split('\n').filter(Boolean).length };
  } catch {
    return { commit: null, modifiedTrackedFiles: null };
  }
}

/** Node, machine and load: printed with every figure (the two cores are shared and noisy). */
export function machine(load0: number[]) {
  return {
    node: process.version,
    git: gitState(),
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    loadAverageAtStart: load0.map((x) => round(x, 2)),
    loadAverageAtEnd: os.loadavg().map((x) => round(x, 2)),
  };
}

/** CPU milliseconds this process spent per unit of work over a phase. */
export function cpuMsPer(use: { processCores: number | null }, perSecond: number | null): number | null {
  return use.processCores !== null && perSecond ? round((use.processCores / perSecond) * 1000, 3) : null;
}

/** A fresh PostgreSQL database `mapek_bench_<random>`, dropped by `drop()` (connections forced off). */
export async function scratchPostgres(): Promise<{ name: string; url: string; drop(): Promise<void> }> {
  const name = `mapek_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  let dropped = false;
  return {
    name,
    url: url.toString(),
    async drop() {
      if (dropped) return;
      dropped = true;
      const c = new pg.Client({ connectionString: PG_ADMIN_URL });
      await c.connect();
      try {
        await c.query(`drop database if exists ${name} with (force)`);
      } finally {
        await c.end();
      }
    },
  };
}

/** The server's durability settings, as in force for a new session. */
export async function postgresDurability(url: string): Promise<Record<string, string>> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const out: Record<string, string> = {};
    for (const s of ['server_version', 'synchronous_commit', 'fsync', 'wal_sync_method', 'full_page_writes', 'commit_delay', 'shared_buffers']) {
      const r = await c.query<Record<string, string>>(`show ${s}`);
      out[s] = String(Object.values(r.rows[0] ?? {})[0]);
    }
    return out;
  } finally {
    await c.end();
  }
}

/**
 * Removes every BullMQ queue whose name starts with `${prefix}-` (obliterate, forced), then any
 * key left under it. Returns the queues found and keys deleted after obliterating.
 */
export async function cleanQueuePrefix(redisUrl: string, prefix: string): Promise<{ queues: string[]; leftoverKeysDeleted: number }> {
  const conn = new Redis(redisUrl, { maxRetriesPerRequest: null });
  conn.on('error', () => {});
  const pattern = `bull:${prefix}-*`;
  const scan = async (): Promise<string[]> => {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await conn.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
    return keys;
  };
  try {
    const names = new Set<string>();
    for (const k of await scan()) {
      const rest = k.slice('bull:'.length);
      const i = rest.indexOf(':');
      names.add(i < 0 ? rest : rest.slice(0, i));
    }
    for (const name of names) {
      const q = new Queue(name, { connection: conn as unknown as ConnectionOptions });
      q.on('error', () => {});
      await q.obliterate({ force: true }).catch((err: Error) => progress(`obliterate ${name} failed: ${err.message}`));
      await q.close().catch(() => {});
    }
    const left = await scan();
    for (let i = 0; i < left.length; i += 500) await conn.del(...left.slice(i, i + 500));
    return { queues: [...names].sort(), leftoverKeysDeleted: left.length };
  } finally {
    conn.disconnect();
  }
}

/**
 * The floor under every SQLite knowledge write: one-row transactions on a fresh file in `dir`
 * with mapek's pragmas (WAL, synchronous=FULL), one after another, on better-sqlite3 directly.
 */
export async function sqliteCommitFloor(dir: string, measureMs: number) {
  const file = join(dir, 'bench-commits.db');
  const db = new Sqlite(file);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.exec('create table t (id text primary key, v text not null)');
    const insert = db.prepare('insert into t (id, v) values (?, ?)');
    const commit = db.transaction((id: string, v: string) => insert.run(id, v));
    const value = 'x'.repeat(600);
    const latencies: number[] = [];
    const end = performance.now() + measureMs;
    let i = 0;
    while (performance.now() < end) {
      const t0 = performance.now();
      commit(`r${i++}`, value);
      latencies.push(performance.now() - t0);
      if (i % 50 === 0) await new Promise((r) => setImmediate(r));
    }
    return {
      what: 'better-sqlite3, WAL, synchronous=FULL, one 600-byte row per transaction, sequential',
      commitsPerSecond: round(latencies.length / (measureMs / 1000), 1),
      latencyMs: latencySummary(latencies),
    };
  } finally {
    db.close();
  }
}

/**
 * The floor under every PostgreSQL knowledge write: one-row autocommit INSERTs on a scratch table
 * of `url`, `concurrency` connections each sending one after another (pg, no Kysely).
 */
export async function postgresCommitFloor(url: string, measureMs: number, concurrency: number) {
  const table = `bench_commits_${randomBytes(3).toString('hex')}`;
  const pool = new pg.Pool({ connectionString: url, max: concurrency });
  pool.on('error', () => {});
  try {
    await pool.query(`create table ${table} (id text primary key, v text not null)`);
    const value = 'x'.repeat(600);
    const latencies: number[] = [];
    const end = performance.now() + measureMs;
    let seq = 0;
    const worker = async () => {
      while (performance.now() < end) {
        const t0 = performance.now();
        await pool.query(`insert into ${table} (id, v) values ($1, $2)`, [`r${seq++}`, value]);
        latencies.push(performance.now() - t0);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    await pool.query(`drop table ${table}`);
    return {
      what: `pg, one 600-byte row per autocommit INSERT, ${concurrency} connection(s) each sequential`,
      concurrency,
      commitsPerSecond: round(latencies.length / (measureMs / 1000), 1),
      latencyMs: latencySummary(latencies),
    };
  } finally {
    await pool.end();
  }
}

/** Opens the knowledge database named by KNOWLEDGE_URL (sqlite:PATH or postgres://...) and migrates it. */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Sqlite from 'better-sqlite3';
import { CompiledQuery, Kysely, PostgresDialect, SqliteDialect, SqliteDriver, type DatabaseConnection, type Driver, type SqliteDatabase, type SqliteDialectConfig, type SqliteStatement } from 'kysely';
import pg from 'pg';
import { ConfigError } from '../errors.ts';
import { migrate } from './migrations.ts';
import type { Database } from './schema.ts';
import { WriteLock } from './write-lock.ts';
import { WriterThread } from './writer.ts';

/**
 * SQLite transactions that write start with BEGIN IMMEDIATE: a deferred transaction that reads
 * first and writes later fails at once with SQLITE_BUSY when another process committed in
 * between (WAL cannot upgrade its snapshot); IMMEDIATE waits on busy_timeout instead.
 */
class ImmediateSqliteDriver extends SqliteDriver {
  constructor(
    settings: SqliteDialectConfig,
    /** Shared with the writer thread of this process, when it has one (write-lock.ts). */
    private readonly lock?: WriteLock,
  ) {
    super(settings);
  }

  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await this.lock?.acquire(BUSY_TIMEOUT_MS);
    try {
      await connection.executeQuery(CompiledQuery.raw('begin immediate'));
    } catch (err) {
      this.lock?.release();
      throw err;
    }
  }

  override async commitTransaction(connection: DatabaseConnection): Promise<void> {
    try {
      await super.commitTransaction(connection);
    } finally {
      this.lock?.release();
    }
  }

  override async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    try {
      await super.rollbackTransaction(connection);
    } finally {
      this.lock?.release();
    }
  }
}

class ImmediateSqliteDialect extends SqliteDialect {
  constructor(
    private readonly settings: SqliteDialectConfig,
    private readonly lock?: WriteLock,
  ) {
    super(settings);
  }

  override createDriver(): Driver {
    return new ImmediateSqliteDriver(this.settings, this.lock);
  }
}

/** How long a writer waits for another (synchronously in SQLite when that is another process). */
const BUSY_TIMEOUT_MS = 3000;

/** Statements kept prepared; past this many distinct SQL texts the cache starts afresh. */
const STATEMENT_CACHE = 512;

/**
 * The database as Kysely's SQLite driver sees it, with prepared statements reused: the driver
 * prepares every query anew, and mapek runs the same few dozen SQL texts over and over.
 * (Kysely's single-connection mutex means a statement is never run by two queries at once.)
 */
function cachingStatements(sqlite: Sqlite.Database): SqliteDatabase {
  const cache = new Map<string, Sqlite.Statement>();
  return {
    prepare(text: string) {
      let stmt = cache.get(text);
      if (!stmt) {
        stmt = sqlite.prepare(text);
        if (cache.size >= STATEMENT_CACHE) cache.clear();
        cache.set(text, stmt);
      }
      return stmt as unknown as SqliteStatement;
    },
    close() {
      sqlite.close();
    },
  };
}

/** An open knowledge database and what it is, for logs and benchmarks. */
export interface KnowledgeDb {
  db: Kysely<Database>;
  kind: 'sqlite' | 'postgres';
  /** The durability settings in force, printed by benchmarks and `mapek start`. */
  durability: string;
  /** SQLite with a writer thread: observations are written there, off the event loop (writer.ts). */
  writer?: WriterThread;
  close(): Promise<void>;
}

/** How a database is opened. */
export interface OpenOptions {
  /**
   * SQLite file: write observations (webhook intake, sensor ticks) on a writer thread with its own
   * connection, so their statements and fsyncs leave the event loop free. An intake-only process
   * (`mapek start --roles api`) does; one-shot commands and processes running the stages do not.
   */
  writerThread?: boolean;
}

/**
 * A SQLite connection as mapek uses it: WAL, every commit fsynced, writes starting with BEGIN
 * IMMEDIATE (taking `lock` first, when threads of this process share the file).
 */
export function openSqlite(file: string, lock?: WriteLock): Kysely<Database> {
  // Waits for another process's writer at most 3 s (synchronously: better-sqlite3 blocks while it
  // waits), so a webhook that cannot be kept still gets its 503 within 5 s.
  const sqlite = new Sqlite(file, { timeout: BUSY_TIMEOUT_MS });
  sqlite.pragma('journal_mode = WAL');
  // FULL: a commit is on disk before the webhook answers 202 (principle 2).
  sqlite.pragma('synchronous = FULL');
  return new Kysely<Database>({ dialect: new ImmediateSqliteDialect({ database: cachingStatements(sqlite) }, lock) });
}

/** Opens (creating and migrating when empty) the database at `url`. */
export async function openKnowledge(url: string, options: OpenOptions = {}): Promise<KnowledgeDb> {
  let handle: KnowledgeDb;
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    if (!path) throw new ConfigError(`KNOWLEDGE_URL: no file in "${url}" (expected sqlite:PATH)`);
    const file = path === ':memory:' ? path : resolve(path);
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
    const lock = options.writerThread && file !== ':memory:' ? new WriteLock() : undefined;
    const db = openSqlite(file, lock);
    const writer = lock ? new WriterThread(file, lock) : undefined;
    handle = {
      db,
      kind: 'sqlite',
      durability: `sqlite WAL, synchronous=FULL (${file})${writer ? '; observations written by the knowledge writer thread' : ''}`,
      writer,
      close: async () => {
        await writer?.close();
        await db.destroy();
      },
    };
  } else if (/^postgres(ql)?:\/\//.test(url)) {
    const pool = new pg.Pool({
      connectionString: url,
      max: 10,
      connectionTimeoutMillis: 4000,
      statement_timeout: 4000,
      query_timeout: 4500,
    });
    // An idle client losing its connection must not crash the process.
    pool.on('error', () => {});
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    handle = { db, kind: 'postgres', durability: 'postgresql, synchronous_commit as configured on the server', close: () => db.destroy() };
  } else {
    throw new ConfigError(`KNOWLEDGE_URL: unsupported "${url}" (expected sqlite:PATH or postgres://...)`);
  }
  try {
    await migrate(handle.db, handle.kind);
  } catch (err) {
    await handle.close().catch(() => {});
    throw err;
  }
  return handle;
}

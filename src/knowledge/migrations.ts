/** Schema migrations, run by `mapek start` and every CLI command that touches knowledge. */
import { Migrator, type Kysely, type Migration, type MigrationProvider } from 'kysely';

// Migrations see the schema as it was then, not today's Database type.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyDb = Kysely<any>;

function initial(postgres: boolean): Migration {
  return { up: (db: AnyDb) => createInitial(db, postgres) };
}

async function createInitial(db: AnyDb, postgres: boolean): Promise<void> {
  {
    await db.schema
      .createTable('observations')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('source', 'text', (c) => c.notNull())
      .addColumn('dedup_key', 'text', (c) => c.notNull().unique())
      .addColumn('received_at', 'text', (c) => c.notNull())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('fingerprint', 'text', (c) => c.notNull())
      .addColumn('labels', 'text', (c) => c.notNull())
      .addColumn('payload', 'text', (c) => c.notNull())
      .addColumn('processed_at', 'text')
      .addColumn('outcome', 'text')
      .execute();
    await db.schema.createIndex('observations_fingerprint').on('observations').column('fingerprint').execute();
    await db.schema.createIndex('observations_unprocessed').on('observations').columns(['processed_at', 'received_at']).execute();
    await db.schema
      .createTable('incidents')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('playbook', 'text', (c) => c.notNull())
      .addColumn('subject_key', 'text', (c) => c.notNull())
      .addColumn('labels', 'text', (c) => c.notNull())
      .addColumn('state', 'text', (c) => c.notNull())
      .addColumn('active_slot', 'integer')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .addColumn('closed_at', 'text')
      .execute();
    // NULLs are distinct in a unique index on both backends: only active incidents collide.
    await db.schema.createIndex('incidents_one_active').on('incidents').columns(['playbook', 'subject_key', 'active_slot']).unique().execute();
    await db.schema.createIndex('incidents_created').on('incidents').column('created_at').execute();
    await db.schema
      .createTable('findings')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('observation_id', 'text', (c) => c.notNull())
      .addColumn('incident_id', 'text')
      .addColumn('fingerprint', 'text', (c) => c.notNull())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('severity', 'text', (c) => c.notNull())
      .addColumn('labels', 'text', (c) => c.notNull())
      .addColumn('evidence', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('resolved_at', 'text')
      .execute();
    await db.schema.createIndex('findings_incident').on('findings').column('incident_id').execute();
    await db.schema
      .createTable('plans')
      .addColumn('incident_id', 'text', (c) => c.primaryKey())
      .addColumn('machine', 'text', (c) => c.notNull())
      .addColumn('state', 'text', (c) => c.notNull())
      .addColumn('snapshot', 'text', (c) => c.notNull())
      .addColumn('version', 'integer', (c) => c.notNull())
      .addColumn('policy', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('plan_events')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('seq', postgres ? 'bigserial' : 'integer', (c) => c.notNull())
      .addColumn('incident_id', 'text', (c) => c.notNull())
      .addColumn('type', 'text', (c) => c.notNull())
      .addColumn('payload', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('applied_at', 'text')
      .execute();
    // The next event number under SQLite is max(seq) + 1: an index keeps that a lookup.
    await db.schema.createIndex('plan_events_seq').on('plan_events').column('seq').execute();
    await db.schema.createIndex('plan_events_pending').on('plan_events').columns(['incident_id', 'applied_at', 'seq']).execute();
    await db.schema
      .createTable('decisions')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('incident_id', 'text', (c) => c.notNull())
      .addColumn('at', 'text', (c) => c.notNull())
      .addColumn('machine', 'text', (c) => c.notNull())
      .addColumn('from_state', 'text', (c) => c.notNull())
      .addColumn('to_state', 'text', (c) => c.notNull())
      .addColumn('event', 'text', (c) => c.notNull())
      .addColumn('guards', 'text', (c) => c.notNull())
      .addColumn('evidence', 'text', (c) => c.notNull())
      .addColumn('policy', 'text', (c) => c.notNull())
      .addColumn('actions', 'text', (c) => c.notNull())
      .addColumn('labels', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('decisions_incident').on('decisions').columns(['incident_id', 'at']).execute();
    await db.schema.createIndex('decisions_at').on('decisions').column('at').execute();
    await db.schema
      .createTable('actions')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('incident_id', 'text', (c) => c.notNull())
      .addColumn('step', 'text', (c) => c.notNull())
      .addColumn('iteration', 'integer', (c) => c.notNull())
      .addColumn('type', 'text', (c) => c.notNull())
      .addColumn('params', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('attempts', 'integer', (c) => c.notNull())
      .addColumn('idempotency_key', 'text', (c) => c.notNull())
      .addColumn('outcome', 'text')
      .addColumn('quorum', 'integer')
      .addColumn('approvals', 'text', (c) => c.notNull())
      .addColumn('last_error', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('actions_incident').on('actions').column('incident_id').execute();
    await db.schema.createIndex('actions_status').on('actions').column('status').execute();
    // What a budget has spent: actions of a type that succeeded since a time.
    await db.schema.createIndex('actions_budget').on('actions').columns(['type', 'status', 'updated_at']).execute();
    await db.schema
      .createTable('timers')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('incident_id', 'text', (c) => c.notNull())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('due_at', 'text', (c) => c.notNull())
      .addColumn('fired_at', 'text')
      .execute();
    await db.schema
      .createTable('detector_states')
      .addColumn('key', 'text', (c) => c.primaryKey())
      .addColumn('state', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('controls')
      .addColumn('key', 'text', (c) => c.primaryKey())
      .addColumn('value', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('audit_ledger')
      .addColumn('seq', 'integer', (c) => c.primaryKey())
      .addColumn('tbl', 'text', (c) => c.notNull())
      .addColumn('row_key', 'text', (c) => c.notNull())
      .addColumn('row_hash', 'text', (c) => c.notNull())
      .addColumn('prev_hash', 'text', (c) => c.notNull())
      .addColumn('hash', 'text', (c) => c.notNull())
      .addColumn('at', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('audit_checkpoints')
      .addColumn('seq', 'integer', (c) => c.primaryKey())
      .addColumn('hash', 'text', (c) => c.notNull())
      .addColumn('at', 'text', (c) => c.notNull())
      .addColumn('pruned_incidents', 'integer', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('timers_pending').on('timers').columns(['fired_at', 'due_at']).execute();
    await db.schema.createIndex('timers_incident').on('timers').column('incident_id').execute();
  }
}

/** Brings the schema up to date; throws with the failing migration's error. */
export async function migrate(db: AnyDb, kind: 'sqlite' | 'postgres'): Promise<void> {
  const provider: MigrationProvider = {
    async getMigrations() {
      return {
        '0001_initial': initial(kind === 'postgres'),
        // No query looks observations up by fingerprint; the index cost every webhook an insert.
        '0002_drop_observations_fingerprint': { up: (db) => db.schema.dropIndex('observations_fingerprint').ifExists().execute() },
      };
    },
  };
  const migrator = new Migrator({ db, provider, migrationTableName: 'mapek_migrations', migrationLockTableName: 'mapek_migrations_lock' });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new Error(`knowledge migration ${failed} failed: ${(error as Error).message ?? String(error)}`);
  }
}

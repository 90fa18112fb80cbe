import pg from 'pg';

/** The test server's maintenance database (trust auth), from which test databases are created and dropped. */
export const PG_ADMIN_URL = process.env.PG_ADMIN_URL || 'postgres://postgres@127.0.0.1:5432/postgres';

/** Runs one statement on the maintenance database (CREATE / DROP DATABASE), on a connection of its own. */
export async function pgAdmin(query: string): Promise<void> {
  const c = new pg.Client({ connectionString: PG_ADMIN_URL });
  await c.connect();
  try {
    await c.query(query);
  } finally {
    await c.end();
  }
}

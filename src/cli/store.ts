/** CLI commands read KNOWLEDGE_URL themselves (no server needed) and migrate an empty database. */
import { systemClock } from '../clock.ts';
import { openKnowledge } from '../knowledge/db.ts';
import { KnowledgeStore } from '../knowledge/store.ts';

/** Opens the knowledge store for one command and closes it afterwards. */
export async function withStore<T>(fn: (store: KnowledgeStore) => Promise<T>): Promise<T> {
  const url = process.env.KNOWLEDGE_URL || 'sqlite:./data/mapek.db';
  const store = new KnowledgeStore(await openKnowledge(url), systemClock);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

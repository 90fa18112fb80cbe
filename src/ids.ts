/** Deterministic ids: the same facts always give the same id, so repeats collapse (principle 3). */
import { createHash, randomUUID } from 'node:crypto';

/** A short stable hash of the parts, safe as a BullMQ job id (no `:`). */
export function stableId(prefix: string, ...parts: string[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p).update('\u0000');
  return `${prefix}_${h.digest('hex').slice(0, 24)}`;
}

/** A new random id for records with no natural key (incidents). */
export function newId(prefix: string): string {
  return `${prefix}_${randomUUID().replace(/-/g, '')}`;
}

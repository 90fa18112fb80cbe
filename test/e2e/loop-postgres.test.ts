/** The same loop on PostgreSQL: a violation burst through real Prometheus and Alertmanager ends resolved, effects once, chain verified. */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalLoop, type LocalLoop } from '../../src/stack/local-loop.ts';
import { PG_ADMIN_URL, pgAdmin } from '../helpers/postgres.ts';

const dbName = `mapek_e2e_${randomBytes(4).toString('hex')}`;
let loop: LocalLoop;

beforeAll(async () => {
  await pgAdmin(`create database ${dbName}`);
  loop = await startLocalLoop({ knowledgeUrl: PG_ADMIN_URL.replace(/\/[^/]*$/, `/${dbName}`) });
}, 90_000);

afterAll(async () => {
  await loop?.stop();
  await pgAdmin(`drop database if exists ${dbName} with (force)`);
});

describe('the loop on PostgreSQL', () => {
  it('quarantines once and resolves after verification', async () => {
    expect(loop.mapek.store.handle.kind).toBe('postgres');
    const node = 'node-pg';
    await fetch(`${loop.sim.url}/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ kind: 'violation_burst', node_or_service: node, severity: 'SUSPENSION' }) });
    const deadline = Date.now() + 120_000;
    let state = '';
    while (Date.now() < deadline && state !== 'resolved') {
      const page = await loop.mapek.store.listIncidents({ labels: [['node_or_service', node]] });
      state = page.items[0]?.state ?? '';
      if (state !== 'resolved') await new Promise((r) => setTimeout(r, 500));
    }
    expect(state).toBe('resolved');
    const q = (await (await fetch(`${loop.sim.url}/api/quarantines?node_or_service=${node}`)).json()) as { items: unknown[] };
    expect(q.items).toHaveLength(1);
    expect((await loop.mapek.store.listIncidents({ labels: [['node_or_service', node]] })).items).toHaveLength(1);
    expect((await loop.mapek.store.verifyAudit()).problems).toEqual([]);
  }, 150_000);
});

/**
 * The removal of a banned node waits for two distinct committee members (API and CLI), is never
 * executed by default, and happens exactly once at the Charter when approved.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type RunningSimulator } from '../../sim/index.ts';
import { loadConfig } from '../../src/config.ts';
import { startMapek, type RunningMapek } from '../../src/main.ts';
import { until } from '../helpers/until.ts';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../..');
let sim: RunningSimulator;
let dir: string;
const running: RunningMapek[] = [];

interface Action {
  id: string;
  step: string;
  status: string;
  quorum: number | null;
  approvals: Array<{ by: string; decision: string }>;
}
interface Incident {
  id: string;
  state: string;
  actions: Action[];
}

async function start(deadline: string) {
  const configFile = join(dir, `config-${deadline}.yaml`);
  writeFileSync(configFile, `execute:\n  attempts: 2\n  backoff: 100ms\n  maxBackoff: 200ms\nplaybooks:\n  criticalViolation:\n    verifyFirstCheck: 1h\n    removalApprovalDeadline: ${deadline}\n`);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    KNOWLEDGE_URL: `sqlite:${join(dir, `k-${deadline}.db`)}`,
    REDIS_URL: process.env.REDIS_URL || 'redis://127.0.0.1:6379',
    CHARTER_URL: sim.url,
    PROMETHEUS_URL: 'http://127.0.0.1:9',
    MAPEK_QUEUE_PREFIX: `appr-${randomBytes(4).toString('hex')}`,
    MAPEK_CONFIG: configFile,
    LOG_LEVEL: 'warn',
  };
  const mapek = await startMapek(loadConfig({ port: 0 }, env), { logger: pino({ level: 'silent' }) });
  running.push(mapek);
  return { mapek, env };
}

async function banAlert(mapek: RunningMapek, node: string): Promise<Incident> {
  const res = await fetch(`${mapek.url}/webhooks/alertmanager`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      version: '4',
      status: 'firing',
      receiver: 'mapek',
      alerts: [
        {
          status: 'firing',
          labels: { alertname: 'CriticalViolationDetected', node_or_service: node, severity: 'critical', violation_severity: 'PERMANENT_BAN' },
          annotations: {},
          startsAt: '2026-12-04T12:00:00Z',
          fingerprint: `fp-${node}`,
        },
      ],
    }),
  });
  expect(res.status).toBe(202);
  return until('the removal to await approval', async () => {
    const inc = await incidentOf(mapek, node);
    return inc?.actions.some((a) => a.step === 'remove-node') && inc.actions.some((a) => a.step === 'notify-committee' && a.status === 'succeeded') ? inc : undefined;
  });
}

async function incidentOf(mapek: RunningMapek, node: string): Promise<Incident | undefined> {
  const list = (await (await fetch(`${mapek.url}/api/incidents?label=node_or_service=${node}`)).json()) as { items: Array<{ id: string }> };
  const id = list.items[0]?.id;
  return id ? ((await (await fetch(`${mapek.url}/api/incidents/${id}`)).json()) as Incident) : undefined;
}

async function decide(mapek: RunningMapek, actionId: string, decision: 'approve' | 'reject', by: string) {
  const res = await fetch(`${mapek.url}/api/actions/${actionId}/${decision}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ by, comment: `${by} says ${decision}` }) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function revocations(node: string): Promise<Array<{ scope: string }>> {
  return ((await (await fetch(`${sim.url}/api/revocations?node_or_service=${node}`)).json()) as { items: Array<{ scope: string }> }).items;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mapek-approvals-'));
  sim = await startSimulator({ port: 0, tickMs: 500 });
});

afterAll(async () => {
  for (const m of running) await m.close();
  await sim?.close();
});

describe('the gated removal of a banned node', () => {
  it('waits for two distinct members, then revokes exactly once', async () => {
    const { mapek } = await start('1h');
    const node = 'node-banned';
    const inc = await banAlert(mapek, node);
    const removal = inc.actions.find((a) => a.step === 'remove-node')!;
    expect(removal).toMatchObject({ status: 'awaiting_approval', quorum: 2 });
    // Quarantined at once, the removal not executed by default.
    expect(inc.actions.find((a) => a.step === 'quarantine')!.status).toBe('succeeded');
    expect(await revocations(node)).toHaveLength(0);

    expect((await decide(mapek, removal.id, 'approve', 'mapek')).status).toBe(400); // the requester never counts
    expect((await decide(mapek, removal.id, 'approve', '  ')).status).toBe(400);
    expect((await decide(mapek, removal.id, 'approve', 'alice'))).toMatchObject({ status: 200, body: { quorumReached: false } });
    expect((await decide(mapek, removal.id, 'approve', 'alice')).status).toBe(409); // each member counts once
    expect(await revocations(node)).toHaveLength(0);
    expect((await decide(mapek, removal.id, 'approve', 'bob'))).toMatchObject({ status: 200, body: { quorumReached: true } });

    await until('the revocation', async () => ((await revocations(node)).length === 1 ? true : undefined));
    const done = await until('the removal to succeed', async () => {
      const i = await incidentOf(mapek, node);
      return i?.actions.find((a) => a.step === 'remove-node')?.status === 'succeeded' ? i : undefined;
    });
    expect((await revocations(node))[0]).toMatchObject({ scope: 'all' });
    expect(done.actions.find((a) => a.step === 'remove-node')!.approvals.map((a) => a.by)).toEqual(['alice', 'bob']);
    expect((await decide(mapek, removal.id, 'approve', 'carol')).status).toBe(409); // no longer awaiting approval
    expect(await revocations(node)).toHaveLength(1);
  }, 60_000);

  it('a rejection from the CLI skips the removal and escalates the incident', async () => {
    const { mapek, env } = await start('2h');
    const node = 'node-spared';
    const inc = await banAlert(mapek, node);
    const removal = inc.actions.find((a) => a.step === 'remove-node')!;
    const { stdout } = await run(process.execPath, ['bin/mapek.mjs', 'reject', removal.id, '--by', 'carol', '--comment', 'not enough evidence'], { cwd: root, env });
    expect(stdout).toContain('rejected');
    const after = await until('the escalation', async () => {
      const i = await incidentOf(mapek, node);
      return i?.state === 'escalated' ? i : undefined;
    });
    expect(after.actions.find((a) => a.step === 'remove-node')!.status).toBe('skipped');
    expect(after.actions.find((a) => a.step === 'page')).toBeDefined();
    expect(await revocations(node)).toHaveLength(0);
  }, 60_000);

  it('without approvals before the deadline, the removal expires and the incident escalates', async () => {
    const { mapek } = await start('2s');
    const node = 'node-unanswered';
    await banAlert(mapek, node);
    const after = await until('the escalation', async () => {
      const i = await incidentOf(mapek, node);
      return i?.state === 'escalated' ? i : undefined;
    });
    expect(after.actions.find((a) => a.step === 'remove-node')!.status).toBe('skipped');
    expect(await revocations(node)).toHaveLength(0);
  }, 60_000);
});

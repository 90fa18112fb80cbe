/** `mapek replay`: the recorded policy replays with no difference; a changed policy shows what it would have decided. */
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

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../..');
let sim: RunningSimulator;
let mapek: RunningMapek;
let env: NodeJS.ProcessEnv;
let dir: string;
const since = new Date(Date.now() - 60_000).toISOString();

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mapek-replay-'));
  sim = await startSimulator({ port: 0, tickMs: 500 });
  const configFile = join(dir, 'recorded.yaml');
  writeFileSync(configFile, 'sensors: []\nexecute:\n  attempts: 2\n  backoff: 100ms\n  maxBackoff: 200ms\nplaybooks:\n  criticalViolation:\n    verifyFirstCheck: 1h\n');
  env = {
    ...process.env,
    KNOWLEDGE_URL: `sqlite:${join(dir, 'k.db')}`,
    REDIS_URL: process.env.REDIS_URL || 'redis://127.0.0.1:6379',
    CHARTER_URL: sim.url,
    PROMETHEUS_URL: 'http://127.0.0.1:9',
    MAPEK_QUEUE_PREFIX: `replay-${randomBytes(4).toString('hex')}`,
    LOG_LEVEL: 'warn',
  };
  mapek = await startMapek(loadConfig({ configFile, port: 0 }, env), { logger: pino({ level: 'silent' }) });
  const res = await fetch(`${mapek.url}/webhooks/alertmanager`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      status: 'firing',
      receiver: 'mapek',
      alerts: [{ status: 'firing', labels: { alertname: 'CriticalViolationDetected', node_or_service: 'node-replayed' }, annotations: {}, startsAt: '2026-12-04T12:00:00Z', fingerprint: 'fp-replay' }],
    }),
  });
  expect(res.status).toBe(202);
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const page = await mapek.store.listIncidents({ state: 'verifying' });
    if (page.items.length) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  writeFileSync(configFile.replace('recorded', 'same'), 'playbooks:\n  criticalViolation:\n    verifyFirstCheck: 1h\n');
  writeFileSync(join(dir, 'changed.yaml'), 'committee:\n  recipients: [audit-committee, ombudsman]\nplaybooks:\n  criticalViolation:\n    verifyFirstCheck: 10s\n');
}, 60_000);

afterAll(async () => {
  await mapek?.close();
  await sim?.close();
});

describe('mapek replay', () => {
  it('finds no difference under the policy that decided', async () => {
    const { stdout } = await run(process.execPath, ['bin/mapek.mjs', 'replay', '--since', since, '--policy', join(dir, 'same.yaml'), '--json'], { cwd: root, env });
    const report = JSON.parse(stdout) as { incidents: number; decisions: number; differences: unknown[] };
    expect(report.incidents).toBe(1);
    expect(report.decisions).toBeGreaterThanOrEqual(5);
    expect(report.differences).toEqual([]);
  }, 30_000);

  it('shows what a changed policy would have decided differently, with no effect on the world', async () => {
    const before = ((await (await fetch(`${sim.url}/api/committee/notifications`)).json()) as { items: unknown[] }).items.length;
    const { stdout } = await run(process.execPath, ['bin/mapek.mjs', 'replay', '--since', since, '--policy', join(dir, 'changed.yaml')], { cwd: root, env });
    expect(stdout).toMatch(/replayed 1 incident\(s\), \d+ decision\(s\) under policy charter v1 .*: 2 would differ/);
    expect(stdout).toContain('ombudsman');
    expect(stdout).toContain('timer:verify-check-1@10000ms');
    const after = ((await (await fetch(`${sim.url}/api/committee/notifications`)).json()) as { items: unknown[] }).items.length;
    expect(after).toBe(before);
  }, 30_000);

  it('mapek decisions list|show: a readable table by default, JSON with --json, JSON lines with --jsonl', async () => {
    const table = (await run(process.execPath, ['bin/mapek.mjs', 'decisions', 'list'], { cwd: root, env })).stdout;
    expect(table.split('\n')[0]).toMatch(/^at\s+incident\s+from → to\s+event\s+subject/);
    expect(table).toContain('(start) → lookingUp');
    expect(table).toContain('node_or_service=node-replayed');
    const json = JSON.parse((await run(process.execPath, ['bin/mapek.mjs', 'decisions', 'list', '--json'], { cwd: root, env })).stdout) as Array<{ id: string; incidentId: string }>;
    expect(json.length).toBeGreaterThanOrEqual(5);
    const lines = (await run(process.execPath, ['bin/mapek.mjs', 'decisions', 'list', '--jsonl', '--incident', json[0]!.incidentId], { cwd: root, env })).stdout.trim().split('\n');
    expect(lines.map((l) => (JSON.parse(l) as { id: string }).id).sort()).toEqual(json.filter((d) => d.incidentId === json[0]!.incidentId).map((d) => d.id).sort());
    const shown = (await run(process.execPath, ['bin/mapek.mjs', 'decisions', 'show', json[0]!.id], { cwd: root, env })).stdout;
    expect(shown).toContain(`decision ${json[0]!.id}`);
    expect(shown).toMatch(/guards:/);
    const shownJson = JSON.parse((await run(process.execPath, ['bin/mapek.mjs', 'decisions', 'show', json[0]!.id, '--json'], { cwd: root, env })).stdout) as { id: string; policy: unknown };
    expect(shownJson).toMatchObject({ id: json[0]!.id, policy: { name: 'charter', version: '1' } });
    const missing = await run(process.execPath, ['bin/mapek.mjs', 'decisions', 'show', 'nope'], { cwd: root, env }).catch((e: { code: number; stderr: string }) => e);
    expect((missing as { code: number }).code).toBe(1);
    expect((missing as { stderr: string }).stderr).toContain('no decision nope');
  }, 60_000);
});

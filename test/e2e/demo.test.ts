/** `npm run demo` on this machine: the loop closes, the summary shows one effect of each kind, nothing is left running. */
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../..');

describe('mapek demo', () => {
  it('shows the loop closing and cleans up after itself', async () => {
    const { stdout } = await run('node', ['bin/mapek.mjs', 'demo', '--node', 'node-demo-test'], { cwd: root, timeout: 240_000, maxBuffer: 10 * 1024 * 1024 });
    expect(stdout).toContain('Prometheus: CriticalViolationDetected{node_or_service="node-demo-test"} is firing');
    expect(stdout).toMatch(/mapek: webhook received/);
    expect(stdout).toMatch(/plan: acting → verifying/);
    expect(stdout).toMatch(/Charter: node quarantined/);
    expect(stdout).toMatch(/incident inc_\w+: resolved/);
    expect(stdout).toContain('effects at the Charter: 1 investigation, 1 quarantine, 1 committee notification');
    // Nothing the demo started is still running (other runs on this machine may use their own dirs).
    const dir = /knowledge sqlite:(\/\S+)\/mapek\.db/.exec(stdout)?.[1];
    expect(dir).toBeTruthy();
    const { stdout: ps } = await run('ps', ['-eo', 'args']);
    expect(ps.split('\n').filter((l) => l.includes(dir!))).toEqual([]);
  }, 250_000);
});

/** docker-compose.yml is for users (no Docker engine here): it must parse and mount files that exist. */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');

describe('docker-compose.yml', () => {
  it('is accepted by docker-compose config', () => {
    const out = execFileSync('docker-compose', ['-f', 'docker-compose.yml', 'config', '-q'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(out).toBe('');
  });

  it('mounts only files and folders that exist, and builds from a Dockerfile that exists', () => {
    const doc = parse(readFileSync(resolve(root, 'docker-compose.yml'), 'utf8')) as { services: Record<string, { volumes?: string[]; build?: string }> };
    const mounts: string[] = [];
    for (const svc of Object.values(doc.services)) {
      for (const v of svc.volumes ?? []) if (v.startsWith('./')) mounts.push(v.split(':')[0]!);
      if (svc.build) expect(existsSync(resolve(root, svc.build, 'Dockerfile'))).toBe(true);
    }
    expect(mounts.length).toBeGreaterThan(0);
    for (const m of mounts) expect(existsSync(resolve(root, m)), m).toBe(true);
  });
});

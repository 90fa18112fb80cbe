// Finding and installing the stack's programs, against a fake machine.
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ensureBinaries,
  findExecutable,
  installCommand,
  MissingBinariesError,
  type BinaryHost,
  type BinaryName,
} from '../../src/stack/binaries.ts';

function fakeHost(options: {
  installed: BinaryName[];
  root?: boolean;
  apt?: boolean;
  /** What `apt-get install` does, by attempt (1-based): which names it makes appear, and its exit code. */
  install?: (attempt: number) => { provides: BinaryName[]; code: number };
}): BinaryHost & { commands: string[] } {
  const installed = new Set(options.installed);
  let attempts = 0;
  const commands: string[] = [];
  return {
    commands,
    find: (name) => (installed.has(name) ? `/fake/bin/${name}` : undefined),
    isRoot: () => options.root ?? false,
    hasAptGet: () => options.apt ?? true,
    async run(command, args) {
      commands.push([command, ...args].join(' '));
      if (args[0] !== 'install') return { code: 0, output: '' };
      attempts += 1;
      const result = options.install?.(attempts) ?? { provides: [], code: 100 };
      for (const name of result.provides) installed.add(name);
      return { code: result.code, output: `attempt ${attempts}` };
    },
  };
}

describe('ensureBinaries', () => {
  it('returns the paths of installed programs and runs nothing', async () => {
    const host = fakeHost({ installed: ['prometheus', 'promtool'] });
    expect(await ensureBinaries(['prometheus', 'promtool'], host)).toEqual({
      prometheus: '/fake/bin/prometheus',
      promtool: '/fake/bin/promtool',
    });
    expect(host.commands).toEqual([]);
  });

  it('without root, throws with the exact command to run, each package once', async () => {
    const host = fakeHost({ installed: ['prometheus'], root: false });
    const error = await ensureBinaries(['prometheus', 'alertmanager', 'amtool', 'redis-server'], host).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MissingBinariesError);
    expect((error as Error).message).toBe('sudo apt-get install -y prometheus-alertmanager redis-server');
    expect((error as MissingBinariesError).missing).toEqual(['alertmanager', 'amtool', 'redis-server']);
    expect(host.commands).toEqual([]);
  });

  it('as root without apt-get, throws the same way', async () => {
    const host = fakeHost({ installed: [], root: true, apt: false });
    await expect(ensureBinaries(['promtool'], host)).rejects.toThrow(/^sudo apt-get install -y prometheus$/);
    expect(host.commands).toEqual([]);
  });

  it('as root on Debian, installs the missing packages', async () => {
    const host = fakeHost({ installed: ['prometheus'], root: true, install: () => ({ provides: ['alertmanager', 'amtool'], code: 0 }) });
    expect(await ensureBinaries(['prometheus', 'alertmanager', 'amtool'], host)).toEqual({
      prometheus: '/fake/bin/prometheus',
      alertmanager: '/fake/bin/alertmanager',
      amtool: '/fake/bin/amtool',
    });
    expect(host.commands).toEqual(['apt-get install -y --no-install-recommends prometheus-alertmanager']);
  });

  it('runs apt-get update and retries when the first install fails', async () => {
    const host = fakeHost({
      installed: [],
      root: true,
      install: (attempt) => (attempt === 1 ? { provides: [], code: 100 } : { provides: ['redis-server'], code: 0 }),
    });
    expect(await ensureBinaries(['redis-server'], host)).toEqual({ 'redis-server': '/fake/bin/redis-server' });
    expect(host.commands).toEqual([
      'apt-get install -y --no-install-recommends redis-server',
      'apt-get update',
      'apt-get install -y --no-install-recommends redis-server',
    ]);
  });

  it('throws the command to run when installing does not help (no network, say)', async () => {
    const host = fakeHost({ installed: [], root: true });
    const error = (await ensureBinaries(['prometheus'], host).catch((e: unknown) => e)) as MissingBinariesError;
    expect(error.message).toBe('sudo apt-get install -y prometheus');
    expect(String((error.cause as Error).message)).toMatch(/exited with 100/);
  });
});

describe('findExecutable', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mapek-bin-'));
    await writeFile(join(dir, 'mapek-fake-tool'), '#!/bin/sh\n');
    await chmod(join(dir, 'mapek-fake-tool'), 0o755);
    await writeFile(join(dir, 'mapek-not-executable'), '');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('finds executables on the given PATH and ignores non-executable files', () => {
    expect(findExecutable('mapek-fake-tool', dir)).toBe(join(dir, 'mapek-fake-tool'));
    expect(findExecutable('mapek-not-executable', dir)).toBeUndefined();
  });

  it('falls back to the system directories when PATH lacks them', () => {
    expect(findExecutable('sh', '')).toMatch(/^\/(usr\/)?bin\/sh$/);
  });
});

it('installCommand names each Debian package once', () => {
  expect(installCommand(['prometheus', 'promtool', 'alertmanager', 'amtool'])).toBe('sudo apt-get install -y prometheus prometheus-alertmanager');
});

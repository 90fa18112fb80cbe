/** Locating (and on Debian, installing) the external programs a local stack runs. */
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { spawn } from 'node:child_process';

/** The programs a local stack may need. */
export type BinaryName = 'prometheus' | 'promtool' | 'alertmanager' | 'amtool' | 'redis-server';

// Debian ships Alertmanager as prometheus-alertmanager; upstream tarballs call it alertmanager.
const EXECUTABLES: Record<BinaryName, readonly string[]> = {
  prometheus: ['prometheus'],
  promtool: ['promtool'],
  alertmanager: ['prometheus-alertmanager', 'alertmanager'],
  amtool: ['amtool'],
  'redis-server': ['redis-server'],
};

/** The Debian package that provides each program. */
export const DEBIAN_PACKAGES: Record<BinaryName, string> = {
  prometheus: 'prometheus',
  promtool: 'prometheus',
  alertmanager: 'prometheus-alertmanager',
  amtool: 'prometheus-alertmanager',
  'redis-server': 'redis-server',
};

// Searched after PATH: a shell started by a service manager or sudo may lack /usr/bin.
const FALLBACK_DIRS = ['/usr/bin', '/usr/sbin', '/usr/local/bin', '/bin'];

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Absolute path of an executable file called `file` on PATH or in the usual system directories. */
export function findExecutable(file: string, path: string = process.env.PATH ?? ''): string | undefined {
  const dirs = [...path.split(delimiter).filter((d) => d !== ''), ...FALLBACK_DIRS];
  for (const dir of dirs) {
    const candidate = join(dir, file);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** Absolute path of one of the stack's programs, or undefined when it is not installed. */
export function findBinary(name: BinaryName, path?: string): string | undefined {
  for (const file of EXECUTABLES[name]) {
    const found = findExecutable(file, path);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** The command a person runs to install the packages providing `names`. */
export function installCommand(names: readonly BinaryName[]): string {
  const packages = [...new Set(names.map((n) => DEBIAN_PACKAGES[n]))];
  return `sudo apt-get install -y ${packages.join(' ')}`;
}

/** Thrown when programs are missing and cannot be installed here; the message is the command to run. */
export class MissingBinariesError extends Error {
  override readonly name = 'MissingBinariesError';
  constructor(
    readonly missing: readonly BinaryName[],
    readonly command: string = installCommand(missing),
    options?: { cause?: unknown },
  ) {
    super(command, options);
  }
}

/** What ensureBinaries needs from the machine; replaced in unit tests. */
export interface BinaryHost {
  find(name: BinaryName): string | undefined;
  isRoot(): boolean;
  hasAptGet(): boolean;
  /** Runs a command to completion; resolves to its exit code and combined output. */
  run(command: string, args: readonly string[]): Promise<{ code: number; output: string }>;
}

function runCommand(command: string, args: readonly string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    let output = '';
    const keep = (chunk: Buffer): void => {
      // Only the tail matters for an error message; apt can print megabytes.
      output = (output + chunk.toString('utf8')).slice(-16_384);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', (err) => resolve({ code: -1, output: `${output}${String(err)}` }));
    child.on('close', (code) => resolve({ code: code ?? -1, output }));
  });
}

/** The real machine. */
export const systemHost: BinaryHost = {
  find: (name) => findBinary(name),
  isRoot: () => typeof process.getuid === 'function' && process.getuid() === 0,
  hasAptGet: () => findExecutable('apt-get') !== undefined,
  run: runCommand,
};

/**
 * Absolute paths of the programs in `names`. Missing ones are installed with apt-get when
 * running as root on Debian (with `apt-get update` first if the plain install fails);
 * otherwise, or if that fails, throws a MissingBinariesError whose message is the command to run.
 */
export async function ensureBinaries<N extends BinaryName>(
  names: readonly N[],
  host: BinaryHost = systemHost,
): Promise<Record<N, string>> {
  const found: Partial<Record<N, string>> = {};
  const missing: N[] = [];
  for (const name of new Set(names)) {
    const path = host.find(name);
    if (path === undefined) missing.push(name);
    else found[name] = path;
  }
  if (missing.length > 0) {
    if (!host.isRoot() || !host.hasAptGet()) throw new MissingBinariesError(missing);
    const packages = [...new Set(missing.map((n) => DEBIAN_PACKAGES[n]))];
    const install = ['install', '-y', '--no-install-recommends', ...packages];
    let result = await host.run('apt-get', install);
    if (result.code !== 0) {
      // A fresh container has no package lists yet.
      await host.run('apt-get', ['update']);
      result = await host.run('apt-get', install);
    }
    const still: N[] = [];
    for (const name of missing) {
      const path = host.find(name);
      if (path === undefined) still.push(name);
      else found[name] = path;
    }
    if (still.length > 0) {
      throw new MissingBinariesError(still, installCommand(still), {
        cause: new Error(`apt-get install exited with ${result.code}: ${result.output.slice(-2_000)}`),
      });
    }
  }
  return found as Record<N, string>;
}

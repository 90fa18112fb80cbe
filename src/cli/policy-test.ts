/**
 * `mapek policy test [DIR]`: runs every *.yaml policy test in DIR (default: the shipped Charter
 * pack's, packs/charter/tests) against the pack (the shipped one, or --config merged over it).
 * One line per test, ok or FAIL with what differed; exit 1 on any failure. Touches no database,
 * no Redis, no network: the runner is pure.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadPack, type Pack } from '../config.ts';
import { READ_ONLY } from '../execute/actuators/index.ts';
import { evaluatePolicyTest, offset, parsePolicyTest, type PolicyTestResult } from '../plan/policy-test.ts';

/** The shipped pack's policy tests. */
export const SHIPPED_TESTS = fileURLToPath(new URL('../../packs/charter/tests/', import.meta.url));

/** Options of one `mapek policy test` run. */
export interface PolicyTestOptions {
  dir?: string;
  /** A pack config file merged over the shipped pack (as `mapek start --config`). */
  config?: string;
  /** Print every step of the plans of failing tests (of all tests with `all`). */
  trace?: boolean | 'all';
  out?: (line: string) => void;
}

/** One file's result. */
export interface FileResult extends PolicyTestResult {
  file: string;
}

/** The *.yaml / *.yml files of a directory, sorted; throws naming the directory when there is none. */
export function testFiles(dir: string): string[] {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new Error(`policy test: ${dir}: not a directory`);
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.yaml') || f.endsWith('.yml'))
    .sort()
    .map((f) => join(dir, f));
  if (files.length === 0) throw new Error(`policy test: no *.yaml tests in ${dir}`);
  return files;
}

/** Runs the tests of a directory; results in file order. */
export function runPolicyTestDir(dir: string, config?: string): FileResult[] {
  const packs = new Map<string, Pack>();
  const packFor = (overrides?: Record<string, unknown>): Pack => {
    const key = JSON.stringify(overrides ?? null);
    let pack = packs.get(key);
    if (!pack) {
      // MAPEK_DRY_RUN is not read: a policy test runs the pack as written.
      pack = loadPack(config, false, overrides);
      packs.set(key, pack);
    }
    return structuredClone(pack);
  };
  return testFiles(dir).map((file) => {
    const name = relative(dir, file);
    try {
      const test = parsePolicyTest(readFileSync(file, 'utf8'), name);
      return { file: name, ...evaluatePolicyTest(test, packFor, { readOnly: READ_ONLY }) };
    } catch (err) {
      return { file: name, name: '(unreadable)', ok: false, failures: [(err as Error).message] };
    }
  });
}

/** The command: prints one line per test and a summary; returns the exit code. */
export function runPolicyTests(opts: PolicyTestOptions = {}): number {
  const out = opts.out ?? ((line: string) => console.log(line));
  const dir = opts.dir ?? SHIPPED_TESTS;
  let results: FileResult[];
  try {
    results = runPolicyTestDir(dir, opts.config);
  } catch (err) {
    out(`mapek: ${(err as Error).message}`);
    return 2;
  }
  const width = Math.max(...results.map((r) => r.file.length));
  for (const r of results) {
    out(`${r.ok ? 'ok  ' : 'FAIL'} ${r.file.padEnd(width)}  ${r.name}`);
    for (const f of r.failures) out(`       ${f.replace(/\n/g, '\n       ')}`);
    if (r.run && (opts.trace === 'all' || (opts.trace && !r.ok))) {
      out('       trace:');
      for (const line of r.run.log) out(`         ${line}`);
      out(`         (clock stopped at ${offset(r.run.end)})`);
    }
  }
  const failed = results.filter((r) => !r.ok).length;
  out(`${results.length - failed} passed, ${failed} failed (${results.length} policy test${results.length === 1 ? '' : 's'} in ${dir})`);
  return failed > 0 ? 1 : 0;
}

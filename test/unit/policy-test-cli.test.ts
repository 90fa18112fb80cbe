// `mapek policy test [DIR]`: one line per test, ok or FAIL with the difference, a summary, and the
// exit code (0 all pass, 1 any failure, 2 no tests to run). No database, no Redis: it runs here.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runPolicyTests } from '../../src/cli/policy-test.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function dirWith(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'mapek-policy-test-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

const PASSING = `
name: suspension resolves
given:
  alerts:
    - { at: 0s, labels: { alertname: CriticalViolationDetected, node_or_service: node-7, severity: critical } }
  outcomes:
    - { step: lookup-severity, result: { severities: [SUSPENSION] } }
expect:
  state: resolved
  actions:
    - { step: lookup-severity }
    - { step: investigate }
    - { step: quarantine }
    - { step: notify-committee }
    - { step: verify-1, at: 30s }
`;
// The same scenario, with a wrong expectation: no quarantine expected.
const FAILING = PASSING.replace('name: suspension resolves', 'name: expects no quarantine').replace('    - { step: quarantine }\n', '');

function run(opts: Parameters<typeof runPolicyTests>[0]): { code: number; lines: string[] } {
  const lines: string[] = [];
  const code = runPolicyTests({ ...opts, out: (l) => lines.push(...l.split('\n')) });
  return { code, lines };
}

describe('mapek policy test', () => {
  it('without DIR runs the shipped pack`s tests, all ok', () => {
    const { code, lines } = run({});
    expect(lines.filter((l) => l.startsWith('FAIL'))).toEqual([]);
    expect(code).toBe(0);
    expect(lines.at(-1)).toMatch(/^\d+ passed, 0 failed/);
    expect(lines.some((l) => /^ok {3}suspension\.yaml +SUSPENSION/.test(l))).toBe(true);
  });

  it('prints ok and FAIL lines with the difference, and exits 1 on any failure', () => {
    const dir = dirWith({ 'a-pass.yaml': PASSING, 'b-fail.yaml': FAILING, 'notes.txt': 'not a test' });
    const { code, lines } = run({ dir });
    expect(code).toBe(1);
    expect(lines[0]).toMatch(/^ok {3}a-pass\.yaml +suspension resolves$/);
    expect(lines[1]).toMatch(/^FAIL b-fail\.yaml +expects no quarantine$/);
    expect(lines).toContain('       actions[3]: step quarantine, expected notify-committee');
    expect(lines.at(-1)).toMatch(/^1 passed, 1 failed \(2 policy tests in /);
  });

  it('prints the trace of a failing test with --trace', () => {
    const dir = dirWith({ 'b-fail.yaml': FAILING });
    const { lines } = run({ dir, trace: true });
    expect(lines).toContain('       trace:');
    expect(lines.some((l) => l.includes('inc-1 acting --action.succeeded(investigate)--> acting: asks quarantine (charter.quarantine)'))).toBe(true);
  });

  it('an unreadable test is a failure naming the file and the field', () => {
    const dir = dirWith({ 'bad.yaml': 'name: x\ngiven: { alerts: [] }\nexpect: { state: resolved }\n' });
    const { code, lines } = run({ dir });
    expect(code).toBe(1);
    expect(lines).toContain('       bad.yaml: given: given: at least one alert or sensor sample');
  });

  it('a pack config file given with --config is the policy under test', () => {
    const config = join(dirWith({}), 'policy.yaml');
    writeFileSync(config, 'playbooks:\n  criticalViolation:\n    verifyFirstCheck: 10s\n');
    const dir = dirWith({ 'a-pass.yaml': PASSING });
    const { code, lines } = run({ dir, config });
    expect(code).toBe(1);
    expect(lines).toContain('       actions[5]: asked at 10s, expected 30s');
  });

  it('exits 2 when there is nothing to run', () => {
    expect(run({ dir: dirWith({}) })).toMatchObject({ code: 2, lines: [expect.stringMatching(/no \*\.yaml tests in/)] });
    expect(run({ dir: '/nonexistent/policy-tests' }).code).toBe(2);
  });
});

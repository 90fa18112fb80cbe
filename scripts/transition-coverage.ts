/**
 * Transition coverage of every playbook machine: reads what the transition tests recorded
 * (.tmp/transition-coverage/*.jsonl, written by src/plan/coverage.ts) and what each machine of the
 * registry declares (machineChart), prints covered/declared per machine with the transitions and
 * states no test asserted, and exits 1 below 100%.
 *
 *   node bin/run-ts.mjs scripts/transition-coverage.ts [--dir DIR] [--json]
 *   node bin/run-ts.mjs scripts/transition-coverage.ts --reset    (forget earlier runs; before vitest)
 */
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { machineChart } from '../src/plan/chart.ts';
import {
  coverageOf,
  declaredDigest,
  declaredTransitions,
  describeTransition,
  parseRecords,
  transitionKey,
  type CoverageRecord,
  type MachineCoverage,
} from '../src/plan/coverage.ts';
import { playbooks } from '../src/plan/playbooks/index.ts';

/** Where the transition tests write their records. */
export const DEFAULT_DIR = fileURLToPath(new URL('../.tmp/transition-coverage/', import.meta.url));

/** Everything recorded under `dir` (*.jsonl and *.json files of JSON lines). */
export function readRecords(dir: string): { records: CoverageRecord[]; files: number; broken: number } {
  if (!existsSync(dir)) return { records: [], files: 0, broken: 0 };
  const files = readdirSync(dir).filter((f) => f.endsWith('.jsonl') || f.endsWith('.json'));
  const records: CoverageRecord[] = [];
  let broken = 0;
  for (const f of files) {
    const parsed = parseRecords(readFileSync(join(dir, f), 'utf8'));
    records.push(...parsed.records);
    broken += parsed.broken;
  }
  return { records, files: files.length, broken };
}

/** Coverage of one machine, with its states. */
export interface Report extends MachineCoverage {
  states: { declared: number; covered: number; missing: string[] };
  /** Set when the chart and the machine's own definition disagree (the chart is the authority). */
  warning?: string;
}

/** Coverage of every playbook in the registry against the records. */
export function report(records: readonly CoverageRecord[]): Report[] {
  return Object.values(playbooks).map((p) => {
    const chart = machineChart(p.machine.id);
    if (!chart) throw new Error(`no chart for machine ${p.machine.id}`);
    const cov = coverageOf(chart.id, chart.transitions, records, declaredDigest(p.machine));
    // Name composite guards as the machine writes them (a chart may print an inline and([...]) as 'guard').
    const labels = new Map(declaredTransitions(p.machine).map((t) => [transitionKey(t), t.guard]));
    cov.missing = cov.missing.map((m) => ({ ...m, guard: m.guard === 'guard' ? (labels.get(transitionKey(m)) ?? m.guard) : m.guard }));
    const own = declaredTransitions(p.machine).map((t) => `${t.from}|${t.event}|${t.to}`);
    const charted = chart.transitions.map((t) => `${t.from}|${t.event}|${t.to}`);
    const warning = own.join('\n') === charted.join('\n') ? undefined : 'machineChart and the machine definition list different transitions';
    const missingKeys = new Set(cov.missing.map((m) => `${m.from}|${m.event}|${m.index}`));
    const seen = new Map<string, number>();
    const coveredRows = chart.transitions.filter((t) => {
      const group = `${t.from}|${t.event}`;
      const index = seen.get(group) ?? 0;
      seen.set(group, index + 1);
      return !missingKeys.has(`${group}|${index}`);
    });
    // A state is covered when a test took a transition out of it or into it (the initial state by starting).
    const reachedStates = new Set<string>([chart.initial]);
    for (const t of coveredRows) {
      if (t.from !== '*') reachedStates.add(t.from);
      if (t.to !== '*') reachedStates.add(t.to);
    }
    const missingStates = chart.states.map((s) => s.name).filter((s) => !reachedStates.has(s));
    return {
      ...cov,
      states: { declared: chart.states.length, covered: chart.states.length - missingStates.length, missing: missingStates },
      ...(warning ? { warning } : {}),
    };
  });
}

const pct = (a: number, b: number) => (b === 0 ? '100.0' : ((100 * a) / b).toFixed(1));

/** The printed report; true when every machine is fully covered. */
export function format(reports: readonly Report[]): { text: string; complete: boolean } {
  const lines: string[] = [];
  let covered = 0;
  let declared = 0;
  for (const r of reports) {
    covered += r.covered;
    declared += r.declared;
    lines.push(
      `${r.machine}: transitions ${r.covered}/${r.declared} (${pct(r.covered, r.declared)}%), states ${r.states.covered}/${r.states.declared}` +
        (r.stale ? `, ${r.stale} stale record(s) ignored` : ''),
    );
    for (const m of r.missing) lines.push(`  missing: ${describeTransition(m)}${m.index > 0 ? ` (#${m.index})` : ''}`);
    for (const s of r.states.missing) lines.push(`  state never reached: ${s}`);
    if (r.warning) lines.push(`  warning: ${r.warning}`);
  }
  const complete = reports.length > 0 && reports.every((r) => r.covered === r.declared && r.states.covered === r.states.declared);
  lines.push(`total: ${covered}/${declared} transitions (${pct(covered, declared)}%) in ${reports.length} machine(s)${complete ? '' : ' — below 100%'}`);
  return { text: lines.join('\n'), complete };
}

function main(argv: string[]): number {
  const dirAt = argv.indexOf('--dir');
  const dir = dirAt >= 0 && argv[dirAt + 1] ? resolve(argv[dirAt + 1]!) : DEFAULT_DIR;
  if (argv.includes('--reset')) {
    rmSync(dir, { recursive: true, force: true });
    console.log(`transition coverage: cleared ${dir}`);
    return 0;
  }
  const { records, files, broken } = readRecords(dir);
  if (files === 0) {
    console.error(`transition coverage: no records under ${dir} (run the transition tests first: npx vitest run test/unit/transitions-*.test.ts)`);
    return 1;
  }
  const reports = report(records);
  if (argv.includes('--json')) {
    console.log(JSON.stringify({ dir, files, records: records.length, broken, machines: reports }, null, 2));
    return format(reports).complete ? 0 : 1;
  }
  const { text, complete } = format(reports);
  console.log(`transition coverage: ${records.length} record(s) in ${files} file(s)${broken ? `, ${broken} unreadable line(s)` : ''}`);
  console.log(text);
  return complete ? 0 : 1;
}

// Run only as a script (node bin/run-ts.mjs scripts/transition-coverage.ts), not when imported.
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv.slice(2));
}

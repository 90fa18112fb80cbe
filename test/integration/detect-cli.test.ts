// `mapek detect` follows its contract (DESIGN.md): stdout is exactly `timestamp,value,anomaly_score`
// and one row per input row, timestamps verbatim, scores in [0, 1]; errors on stderr, naming the
// line and field, with a non-zero exit. Called in-process, then as a separate process.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detectors, recommendedDetector } from '../../src/analyze/detectors/index.ts';
import { scoreSeries } from '../../src/analyze/detectors/types.ts';
import { parseTimestamp } from '../../src/analyze/series.ts';
import { formatScore, runDetect, type DetectOptions } from '../../src/cli/detect.ts';

const ROOT = resolve(import.meta.dirname, '../..');
let dir: string;

/** A series of `n` 5-minute samples: a daily cycle, noise-free, and a spike at row `spikeAt`. */
function csv(n: number, opts: { spikeAt?: number; eol?: string; trailingNewline?: boolean } = {}): string {
  const eol = opts.eol ?? '\n';
  const rows = ['timestamp,value'];
  for (let i = 0; i < n; i++) {
    const t = new Date(Date.UTC(2026, 0, 5) + i * 300_000).toISOString().replace('T', ' ').slice(0, 19);
    const v = 50 + 20 * Math.sin((2 * Math.PI * i) / 288) + ((i * 7919) % 13) / 13 + (i === opts.spikeAt ? 200 : 0);
    rows.push(`${t},${v.toFixed(3)}`);
  }
  return rows.join(eol) + (opts.trailingNewline === false ? '' : eol);
}

function write(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** Runs runDetect with captured streams. */
async function detect(opts: DetectOptions): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = new PassThrough();
  const err = new PassThrough();
  const chunks: { out: string[]; err: string[] } = { out: [], err: [] };
  out.on('data', (c: Buffer) => chunks.out.push(c.toString()));
  err.on('data', (c: Buffer) => chunks.err.push(c.toString()));
  const code = await runDetect(opts, { stdout: out, stderr: err });
  return { code, stdout: chunks.out.join(''), stderr: chunks.err.join('') };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mapek-detect-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('runDetect', () => {
  it('prints the header and one row per input row: timestamp and value verbatim, score in [0, 1]', async () => {
    const input = csv(3000, { spikeAt: 2500 });
    const { code, stdout, stderr } = await detect({ file: write('a.csv', input) });
    expect(code).toBe(0);
    expect(stderr).toBe('');
    const inRows = input.trim().split('\n');
    const outRows = stdout.split('\n');
    expect(outRows.pop()).toBe('');
    expect(outRows[0]).toBe('timestamp,value,anomaly_score');
    expect(outRows).toHaveLength(inRows.length);
    for (let i = 1; i < inRows.length; i++) {
      const [ts, value, score] = outRows[i]!.split(',');
      expect(`${ts},${value}`).toBe(inRows[i]);
      const s = Number(score);
      expect(s).toBeGreaterThanOrEqual(0);
      expect(s).toBeLessThanOrEqual(1);
      expect(score).toMatch(/^(0|1|0\.\d{1,9})$/);
    }
    // The spike is an anomaly for the recommended detector.
    expect(Number(outRows[2501]!.split(',')[2])).toBeGreaterThanOrEqual(recommendedDetector.threshold);
  });

  it('gives the scores of the detector itself, and the same scores for a prefix of the file (no look-ahead)', async () => {
    const input = csv(2000, { spikeAt: 1500 });
    const full = (await detect({ file: write('b.csv', input), detector: 'knn' })).stdout.split('\n');
    const rows = input.trim().split('\n').slice(1);
    const expected = scoreSeries(
      detectors.knn!.create(),
      rows.map((r) => parseTimestamp(r.split(',')[0]!)),
      rows.map((r) => Number(r.split(',')[1])),
    );
    rows.forEach((_, i) => expect(full[i + 1]!.split(',')[2]).toBe(formatScore(expected[i]!)));
    const prefix = (await detect({ file: write('b-prefix.csv', input.split('\n').slice(0, 1601).join('\n')), detector: 'knn' })).stdout.split('\n');
    expect(prefix.slice(0, 1601)).toEqual(full.slice(0, 1601));
  });

  it('takes --detector and --params', async () => {
    const file = write('c.csv', csv(500));
    for (const name of Object.keys(detectors)) expect((await detect({ file, detector: name })).code).toBe(0);
    const r = await detect({ file, detector: 'median-mad', params: '{"window": 64, "history": 200}' });
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')).toHaveLength(502);
  });

  it('reads CRLF, a missing final newline, quoted fields and blank lines', async () => {
    const crlf = await detect({ file: write('d.csv', csv(50, { eol: '\r\n', trailingNewline: false })) });
    expect(crlf.code).toBe(0);
    expect(crlf.stdout.split('\n')).toHaveLength(52);
    expect(crlf.stdout).not.toContain('\r');
    const quoted = await detect({ file: write('e.csv', '"timestamp","value"\n"2026-01-05 00:00:00","1.5"\n\n2026-01-05 00:05:00,2\n') });
    expect(quoted).toMatchObject({ code: 0, stdout: 'timestamp,value,anomaly_score\n"2026-01-05 00:00:00","1.5",0\n2026-01-05 00:05:00,2,0\n' });
  });

  it('--list names every detector, the recommended one marked, on stdout', async () => {
    const { code, stdout } = await detect({ list: true });
    expect(code).toBe(0);
    const names = stdout.split('\n').filter((l) => l && !l.startsWith(' ')).map((l) => l.split(/[ :]/)[0]);
    expect(names).toEqual(Object.keys(detectors));
    expect(stdout).toContain(`${recommendedDetector.name} (recommended)`);
  });

  it.each([
    ['an unknown detector', { detector: 'nope' }, 2, /unknown detector "nope" \(known: /],
    ['params that are not JSON', { params: '{history:' }, 2, /--params: not valid JSON/],
    ['params that are not an object', { params: '[1]' }, 2, /parameters must be a JSON object/],
    ['an unknown parameter', { detector: 'knn', params: '{"window": 3}' }, 2, /knn: unknown parameter "window"/],
    ['a parameter out of bounds', { params: '{"history": -1}' }, 2, /"history" must be between/],
  ])('refuses %s: exit %i, nothing on stdout', async (_what, opts, code, message) => {
    const r = await detect({ file: write('ok.csv', csv(10)), ...opts });
    expect(r.code).toBe(code);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(message);
  });

  it.each([
    ['a missing file', null, /cannot read .*missing\.csv: no such file/],
    ['an empty file', '', /: empty file: expected the header "timestamp,value"/],
    ['a wrong header', 'time,value\n2026-01-05 00:00:00,1\n', /line 1: expected the header "timestamp,value", got "time,value"/],
    ['a bad value', 'timestamp,value\n2026-01-05 00:00:00,1\n2026-01-05 00:05:00,high\n', /line 3, field value: not a finite number: "high"/],
    ['a bad timestamp', 'timestamp,value\nlater,1\n', /line 2, field timestamp: not a timestamp: "later"/],
    ['a row out of order', 'timestamp,value\n2026-01-05 00:05:00,1\n2026-01-05 00:00:00,1\n', /line 3, field timestamp: .* earlier than the row before/],
    ['a row with three fields', 'timestamp,value\n2026-01-05 00:00:00,1,2\n', /line 2: expected 2 fields/],
  ])('refuses %s: exit 1, the message on stderr names the line and field', async (_what, text, message) => {
    const file = text === null ? join(dir, 'missing.csv') : write(`bad-${Math.random().toString(36).slice(2)}.csv`, text);
    const r = await detect({ file });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.startsWith('mapek detect: ')).toBe(true);
    // Whatever was printed before the bad row is still well-formed.
    for (const line of r.stdout.split('\n').filter(Boolean).slice(1)) expect(line.split(',')).toHaveLength(3);
  });

  it('needs a file', async () => {
    const r = await detect({});
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no input file/);
  });
});

/** Runs a node script and collects everything. */
function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolveRun({ code, stdout, stderr }));
  });
}

const mainWired = existsSync(join(ROOT, 'src/cli/main.ts')) && /command\(['"]detect['"]\)/.test(readFileSync(join(ROOT, 'src/cli/main.ts'), 'utf8'));
const entries: Array<[string, string[], boolean]> = [
  ['src/cli/detect-main.ts', ['bin/run-ts.mjs', 'src/cli/detect-main.ts'], true],
  ['mapek detect', ['bin/mapek.mjs', 'detect'], mainWired],
];

describe.each(entries)('as a process: %s', (_name, command, wired) => {
  it.skipIf(!wired)('prints exactly the CSV on stdout and exits 0', async () => {
    const input = csv(400, { spikeAt: 350 });
    const r = await run([...command, write('p.csv', input)]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe('timestamp,value,anomaly_score');
    expect(lines).toHaveLength(402);
    expect(lines.slice(1, -1).map((l) => l.split(',').slice(0, 2).join(','))).toEqual(input.trim().split('\n').slice(1));
  });

  it.skipIf(!wired)('fails with a message on stderr, nothing on stdout, for an unknown detector or a missing file', async () => {
    const unknown = await run([...command, '--detector', 'nope', write('q.csv', csv(5))]);
    expect(unknown.code).toBe(2);
    expect(unknown.stdout).toBe('');
    expect(unknown.stderr).toMatch(/unknown detector "nope"/);
    const missing = await run([...command, join(dir, 'nowhere.csv')]);
    expect(missing.code).toBe(1);
    expect(missing.stdout).toBe('');
    expect(missing.stderr).toMatch(/nowhere\.csv: no such file/);
  });

  it.skipIf(!wired)('--list names the detectors', async () => {
    const r = await run([...command, '--list']);
    expect(r.code).toBe(0);
    for (const name of Object.keys(detectors)) expect(r.stdout).toContain(name);
  });
});

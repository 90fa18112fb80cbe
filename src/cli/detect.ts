/**
 * `mapek detect [--detector NAME] [--params JSON] FILE.csv`: scores a recorded series, streaming.
 * stdout carries exactly `timestamp,value,anomaly_score` and one row per input row (timestamp and
 * value copied verbatim); every message goes to stderr. Exit 0 on success, 1 for a bad file, 2 for
 * bad usage (unknown detector, bad --params, no file). Rows are scored as they are read, so on a
 * bad row the rows before it have already been printed; the exit code says the output is cut short.
 */
import { open, stat, type FileHandle } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { Writable } from 'node:stream';
import { detectorNamed, detectors, recommendedDetector } from '../analyze/detectors/index.ts';
import type { AnomalyScorer, DetectorDefinition } from '../analyze/detectors/types.ts';
import { checkSeriesHeader, parseSeriesLine } from '../analyze/series.ts';
import { ValidationError } from '../errors.ts';

/** The options of `mapek detect`. */
export interface DetectOptions {
  detector?: string;
  params?: string;
  list?: boolean;
  file?: string;
}

/** Where output goes (process streams by default; tests pass their own). */
export interface DetectStreams {
  stdout: Writable;
  stderr: Writable;
}

/** Exit codes. */
const OK = 0;
const BAD_INPUT = 1;
const BAD_USAGE = 2;

/** Flush stdout in chunks of about this many characters. */
const CHUNK = 64 * 1024;

/** A score as text: at most 9 decimals, never an exponent. */
export function formatScore(score: number): string {
  if (!(score > 0)) return '0';
  if (score >= 1) return '1';
  return score.toFixed(9).replace(/0+$/, '').replace(/\.$/, '');
}

/** The `--list` text: one detector a line (name first), the recommended one marked, parameters indented. */
export function listDetectors(): string {
  const lines: string[] = [];
  for (const d of Object.values(detectors)) {
    const tag = d === recommendedDetector ? ' (recommended)' : '';
    lines.push(`${d.name}${tag}: ${d.description}; anomaly at score ≥ ${d.threshold}`);
    for (const [k, p] of Object.entries(d.params)) lines.push(`    ${k}=${p.default}  ${p.description}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Runs `mapek detect`; resolves to the exit code. */
export async function runDetect(opts: DetectOptions, io: DetectStreams = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const fail = (code: number, message: string): number => {
    io.stderr.write(`mapek detect: ${message}\n`);
    return code;
  };
  if (opts.list) {
    await write(io.stdout, listDetectors());
    return OK;
  }
  let definition: DetectorDefinition;
  let scorer: AnomalyScorer;
  try {
    definition = opts.detector === undefined ? recommendedDetector : detectorNamed(opts.detector);
    let params: unknown = {};
    if (opts.params !== undefined) {
      try {
        params = JSON.parse(opts.params);
      } catch (err) {
        throw new ValidationError(`--params: not valid JSON (${(err as Error).message}): ${opts.params}`, 'params');
      }
    }
    scorer = definition.create(params as Record<string, number>);
  } catch (err) {
    return fail(BAD_USAGE, err instanceof ValidationError ? err.message : String(err));
  }
  if (!opts.file) return fail(BAD_USAGE, 'no input file (usage: mapek detect [--detector NAME] [--params JSON] FILE.csv)');
  const file = opts.file;

  // Open first, so a missing or unreadable file is reported before anything is written.
  let handle: FileHandle;
  try {
    if ((await stat(file)).isDirectory()) return fail(BAD_INPUT, `cannot read ${file}: is a directory`);
    handle = await open(file, 'r');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return fail(BAD_INPUT, `cannot read ${file}: ${e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' ? 'permission denied' : e.message}`);
  }
  const input = handle.createReadStream({ encoding: 'utf8' });
  const lines = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
  let readError: NodeJS.ErrnoException | undefined;
  input.on('error', (err) => {
    readError = err;
  });
  let outputClosed = false;
  const onOutputError = (err: NodeJS.ErrnoException): void => {
    // The reader went away (`| head`): stop quietly.
    if (err.code === 'EPIPE') outputClosed = true;
  };
  io.stdout.on('error', onOutputError);
  let lineNo = 0;
  let previousT = Number.NEGATIVE_INFINITY;
  let buffer = '';
  try {
    for await (const line of lines) {
      lineNo++;
      if (lineNo === 1) {
        checkSeriesHeader(line);
        buffer = 'timestamp,value,anomaly_score\n';
        continue;
      }
      const row = parseSeriesLine(line, lineNo, previousT);
      if (!row) continue;
      previousT = row.t;
      buffer += `${row.timestampText},${row.valueText},${formatScore(scorer.score(row.t, row.value))}\n`;
      if (buffer.length >= CHUNK) {
        await write(io.stdout, buffer);
        buffer = '';
        if (outputClosed) break;
      }
    }
    if (readError) throw readError;
    if (lineNo === 0) throw new ValidationError('empty file: expected the header "timestamp,value"', 'header');
    if (buffer && !outputClosed) await write(io.stdout, buffer);
    return OK;
  } catch (err) {
    if (buffer && !outputClosed) await write(io.stdout, buffer).catch(() => undefined);
    if (err instanceof ValidationError) return fail(BAD_INPUT, `${file}: ${err.message}`);
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EPIPE') return OK;
    if (e.code) return fail(BAD_INPUT, `cannot read ${file}: ${e.message}`);
    return fail(BAD_INPUT, `${file}: ${e.message ?? String(err)}`);
  } finally {
    lines.close();
    input.destroy();
    await handle.close().catch(() => undefined);
    io.stdout.off('error', onOutputError);
  }
}

/** Writes and waits until the stream takes more (backpressure); a closed stream resolves at once. */
function write(stream: Writable, text: string): Promise<void> {
  return new Promise((resolve) => {
    if (stream.destroyed || stream.writableEnded) {
      resolve();
      return;
    }
    const done = (): void => {
      stream.off('drain', done);
      stream.off('error', done);
      stream.off('close', done);
      resolve();
    };
    if (stream.write(text)) resolve();
    else {
      stream.once('drain', done);
      stream.once('error', done);
      stream.once('close', done);
    }
  });
}

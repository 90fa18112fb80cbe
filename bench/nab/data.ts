/** Loads the NAB development set (../shared/data/nab by default, or NAB_DIR): series, windows, reference results. */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseTimestamp } from '../../src/analyze/series.ts';

/** Where the data lives. */
export const NAB_DIR = process.env.NAB_DIR ?? resolve(dirname(fileURLToPath(import.meta.url)), '../../../shared/data/nab');

/** True when the data set is present (tests skip otherwise). */
export function nabAvailable(dir = NAB_DIR): boolean {
  return existsSync(join(dir, 'windows.json'));
}

/** One labelled series. */
export interface NabSeries {
  /** `<category>/<file>.csv`, the key of windows.json. */
  name: string;
  timestamps: Float64Array;
  values: Float64Array;
  windows: Array<[number, number]>;
}

/** Reads a `timestamp,value[,anomaly_score,...]` file: timestamps (ms), values and the named column when asked. */
export function readColumns(path: string, column?: string): { timestamps: Float64Array; values: Float64Array; column?: Float64Array } {
  const lines = readFileSync(path, 'utf8').split('\n');
  const header = lines[0]!.trim().split(',');
  const col = column === undefined ? -1 : header.indexOf(column);
  if (column !== undefined && col < 0) throw new Error(`${path}: no column ${column}`);
  const ts: number[] = [];
  const vs: number[] = [];
  const cs: number[] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (!line) continue;
    const f = line.split(',');
    const t = parseTimestamp(f[0]!);
    if (Number.isNaN(t)) throw new Error(`${path}:${i + 1}: bad timestamp ${f[0]}`);
    ts.push(t);
    vs.push(Number(f[1]));
    if (col >= 0) cs.push(Number(f[col]));
  }
  return { timestamps: Float64Array.from(ts), values: Float64Array.from(vs), ...(col >= 0 ? { column: Float64Array.from(cs) } : {}) };
}

/** The labelled windows by file, in ms. */
export function loadWindows(dir = NAB_DIR): Map<string, Array<[number, number]>> {
  const raw = JSON.parse(readFileSync(join(dir, 'windows.json'), 'utf8')) as Record<string, Array<[string, string]>>;
  const out = new Map<string, Array<[number, number]>>();
  for (const [name, ws] of Object.entries(raw)) out.set(name, ws.map(([a, b]) => [parseTimestamp(a), parseTimestamp(b)]));
  return out;
}

/** Every series of the set, sorted by name. */
export function loadSeries(dir = NAB_DIR): NabSeries[] {
  const windows = loadWindows(dir);
  return [...windows.keys()].sort().map((name) => {
    const { timestamps, values } = readColumns(join(dir, 'series', name));
    return { name, timestamps, values, windows: windows.get(name)! };
  });
}

/** The published reference detectors present (directory names under reference/). */
export function referenceDetectors(dir = NAB_DIR): string[] {
  return readdirSync(join(dir, 'reference')).sort();
}

/** A reference detector's published scores, per file, aligned with `loadSeries`. */
export function loadReferenceScores(detector: string, dir = NAB_DIR): Array<{ name: string; timestamps: Float64Array; scores: Float64Array; windows: Array<[number, number]> }> {
  const windows = loadWindows(dir);
  return [...windows.keys()].sort().map((name) => {
    const [category, file] = name.split('/') as [string, string];
    const { timestamps, column } = readColumns(join(dir, 'reference', detector, category, `${detector}_${file}`), 'anomaly_score');
    return { name, timestamps, scores: column!, windows: windows.get(name)! };
  });
}

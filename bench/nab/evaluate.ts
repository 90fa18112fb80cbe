/** Runs a detector over NAB series and explains its score file by file. */
import type { DetectorDefinition } from '../../src/analyze/detectors/types.ts';
import type { NabSeries } from './data.ts';
import { probationLength, scaledSigmoid, type CostMatrix, type ScoredFile } from './scorer.ts';

/** A detector's scores on every series, and how long the scoring took (detector work only). */
export interface DetectorRun {
  files: ScoredFile[];
  points: number;
  seconds: number;
}

/** Scores every series with a fresh scorer each (one parameter set for all files). */
export function runDetector(def: DetectorDefinition, series: readonly NabSeries[], params: Record<string, number> = {}): DetectorRun {
  const files: ScoredFile[] = [];
  let points = 0;
  let ns = 0n;
  for (const s of series) {
    const scorer = def.create(params);
    const n = s.values.length;
    const scores = new Float64Array(n);
    const t = s.timestamps;
    const v = s.values;
    const start = process.hrtime.bigint();
    for (let i = 0; i < n; i++) scores[i] = scorer.score(t[i]!, v[i]!);
    ns += process.hrtime.bigint() - start;
    points += n;
    files.push({ name: s.name, timestamps: s.timestamps, scores, windows: s.windows });
  }
  return { files, points, seconds: Number(ns) / 1e9 };
}

/** Per file at one threshold: windows found (with how early), and false-positive points and their cost. */
export interface FileReport {
  name: string;
  windows: number;
  found: number;
  /** Relative position of each window's first detection (−1 = left edge, 0 = right edge), null when missed. */
  positions: Array<number | null>;
  fpPoints: number;
  fpCost: number;
  score: number;
}

/** Explains each file's part of the score at `threshold`. */
export function explain(files: readonly ScoredFile[], cost: CostMatrix, threshold: number): FileReport[] {
  return files.map((f) => {
    const n = f.timestamps.length;
    const probation = probationLength(n);
    const idx = new Map<number, number>();
    for (let i = n - 1; i >= 0; i--) idx.set(f.timestamps[i]!, i);
    const bounds = f.windows.map(([a, b]) => [idx.get(a)!, idx.get(b)!] as const);
    const positions: Array<number | null> = [];
    let score = 0;
    for (const [l, r] of bounds) {
      let first = -1;
      for (let i = Math.max(l, probation); i <= r; i++) if (f.scores[i]! >= threshold) { first = i; break; }
      if (first < 0) {
        positions.push(null);
        score -= cost.fnWeight;
      } else {
        const pos = -(r - first + 1) / (r - l + 1);
        positions.push(Math.round(pos * 100) / 100);
        score += (scaledSigmoid(pos) * cost.tpWeight) / scaledSigmoid(-1);
      }
    }
    let fpPoints = 0;
    let fpCost = 0;
    let prevR = -1;
    let prevW = 0;
    let k = 0;
    for (let i = 0; i < n; i++) {
      const inWin = k < bounds.length && i >= bounds[k]![0] && i <= bounds[k]![1];
      if (!inWin && i >= probation && f.scores[i]! >= threshold) {
        fpPoints++;
        fpCost += scaledSigmoid(prevR < 0 ? 3 : Math.abs(prevR - i) / (prevW - 1)) * cost.fpWeight;
      }
      if (inWin && i === bounds[k]![1]) {
        prevR = i;
        prevW = bounds[k]![1] - bounds[k]![0] + 1;
        k++;
      }
    }
    score += fpCost;
    return { name: f.name, windows: bounds.length, found: positions.filter((p) => p !== null).length, positions, fpPoints, fpCost: Math.round(fpCost * 100) / 100, score: Math.round(score * 100) / 100 };
  });
}

/**
 * The Numenta Anomaly Benchmark's scoring rules (NAB v1.1's sweeper, as its README in
 * ../shared/data/nab/ states them), written afresh in TypeScript:
 *
 * - the first min(floor(0.15 · rows), 750) rows of each file are probation and not scored;
 * - a point whose score is at or above the threshold is a detection;
 * - inside a window only the best (earliest) detection counts: tpWeight · σ(position) / σ(left edge),
 *   σ(x) = 2 / (1 + e^{5x}) − 1 and position = −(right − i + 1) / width; a window without one costs −fnWeight;
 * - a detection outside every window costs fpWeight · σ(distance past the previous window's end
 *   / (its width − 1)), which is −fpWeight once 3 widths away, and −fpWeight before any window;
 * - one threshold for all files, chosen to maximise the summed score (every distinct score is tried);
 * - normalised = 100 · (S − S_null) / (S_perfect − S_null), S_null being the optimised score of a
 *   detector that always says 0.5 and S_perfect = windows · tpWeight.
 */

/** A profile's weights. */
export interface CostMatrix {
  tpWeight: number;
  fpWeight: number;
  fnWeight: number;
}

/** NAB's three application profiles. */
export const PROFILES = {
  standard: { tpWeight: 1, fpWeight: 0.11, fnWeight: 1 },
  reward_low_FP_rate: { tpWeight: 1, fpWeight: 0.22, fnWeight: 1 },
  reward_low_FN_rate: { tpWeight: 1, fpWeight: 0.11, fnWeight: 2 },
} as const satisfies Record<string, CostMatrix>;

/** A profile name. */
export type ProfileName = keyof typeof PROFILES;

/** One scored file: its timestamps (ms), a detector's scores and the labelled windows (inclusive, ms). */
export interface ScoredFile {
  name: string;
  timestamps: ArrayLike<number>;
  scores: ArrayLike<number>;
  windows: ReadonlyArray<readonly [number, number]>;
}

/** The outcome at one threshold. */
export interface ThresholdScore {
  threshold: number;
  score: number;
  tp: number;
  tn: number;
  fp: number;
  fn: number;
}

/** NAB's scaled sigmoid of a relative position (−1 = a window's left edge, 0 = its right edge). */
export function scaledSigmoid(position: number): number {
  if (position >= 3) return -1;
  return 2 / (1 + Math.exp(5 * position)) - 1;
}

/** The probation length of a file of `rows` rows. */
export function probationLength(rows: number, probationPercent = 0.15): number {
  return Math.min(Math.floor(probationPercent * rows), probationPercent * 5000);
}

/** Where each scorable point falls: its score, its weighted value if detected, and its window (−1 = none). */
interface SweepPoints {
  scores: Float64Array;
  values: Float64Array;
  window: Int32Array;
  windowCount: number;
}

/** One file's points as NAB's sweeper sees them (probation dropped); window ids start at `firstWindow`. */
function sweepFile(file: ScoredFile, cost: CostMatrix, firstWindow: number): { scores: number[]; values: number[]; window: number[]; windows: number } {
  const n = file.timestamps.length;
  if (file.scores.length !== n) throw new Error(`${file.name}: ${file.scores.length} scores for ${n} rows`);
  const indexOf = new Map<number, number>();
  for (let i = n - 1; i >= 0; i--) indexOf.set(file.timestamps[i]!, i);
  const bounds = file.windows.map(([start, end], k) => {
    const left = indexOf.get(start);
    const right = indexOf.get(end);
    if (left === undefined || right === undefined) throw new Error(`${file.name}: window ${k} does not start and end on rows of the file`);
    return { left, right };
  });
  const maxTp = scaledSigmoid(-1);
  const probation = probationLength(n);
  const scores: number[] = [];
  const values: number[] = [];
  const window: number[] = [];
  let next = 0;
  let cur = -1;
  let prevRight = -1;
  let prevWidth = 0;
  for (let i = 0; i < n; i++) {
    if (cur < 0 && next < bounds.length && i === bounds[next]!.left) cur = next++;
    let value: number;
    if (cur >= 0) {
      const { left, right } = bounds[cur]!;
      const width = right - left + 1;
      value = (scaledSigmoid(-(right - i + 1) / width) * cost.tpWeight) / maxTp;
    } else {
      const position = prevRight < 0 ? 3 : Math.abs(prevRight - i) / (prevWidth - 1);
      value = scaledSigmoid(position) * cost.fpWeight;
    }
    if (i >= probation) {
      scores.push(file.scores[i]!);
      values.push(value);
      window.push(cur >= 0 ? firstWindow + cur : -1);
    }
    if (cur >= 0 && i === bounds[cur]!.right) {
      prevRight = i;
      prevWidth = bounds[cur]!.right - bounds[cur]!.left + 1;
      cur = -1;
    }
  }
  return { scores, values, window, windows: bounds.length };
}

function sweepCorpus(files: readonly ScoredFile[], cost: CostMatrix): SweepPoints {
  const scores: number[] = [];
  const values: number[] = [];
  const window: number[] = [];
  let windowCount = 0;
  for (const file of files) {
    const part = sweepFile(file, cost, windowCount);
    windowCount += part.windows;
    for (let j = 0; j < part.scores.length; j++) {
      scores.push(part.scores[j]!);
      values.push(part.values[j]!);
      window.push(part.window[j]!);
    }
  }
  return { scores: Float64Array.from(scores), values: Float64Array.from(values), window: Int32Array.from(window), windowCount };
}

/**
 * The score at every distinct threshold, highest threshold first (the first entry, 1.1, detects
 * nothing). Same arithmetic as NAB's `calcScoreByThreshold` over all files at once.
 */
export function scoresByThreshold(files: readonly ScoredFile[], cost: CostMatrix): ThresholdScore[] {
  const pts = sweepCorpus(files, cost);
  const m = pts.scores.length;
  const order = new Uint32Array(m);
  for (let j = 0; j < m; j++) order[j] = j;
  order.sort((a, b) => pts.scores[b]! - pts.scores[a]! || a - b);
  // Each window's part starts at −fnWeight and becomes the best detection in it once there is one;
  // a window lying wholly in probation has no scorable point and is not counted (as in NAB).
  const windowScoredPoints = new Set<number>();
  for (let j = 0; j < m; j++) if (pts.window[j]! >= 0) windowScoredPoints.add(pts.window[j]!);
  const part = new Float64Array(pts.windowCount).fill(0);
  for (const w of windowScoredPoints) part[w] = -cost.fnWeight;
  let windowsSum = -cost.fnWeight * windowScoredPoints.size;
  let fpSum = 0;
  let tn = 0;
  let fn = 0;
  for (let j = 0; j < m; j++) {
    if (pts.window[j]! < 0) tn++;
    else fn++;
  }
  let tp = 0;
  let fp = 0;
  const out: ThresholdScore[] = [];
  let threshold = 1.1;
  for (let k = 0; k < m; k++) {
    const j = order[k]!;
    const s = pts.scores[j]!;
    if (s !== threshold) {
      out.push({ threshold, score: windowsSum + fpSum, tp, tn, fp, fn });
      threshold = s;
    }
    const w = pts.window[j]!;
    if (w >= 0) {
      tp++;
      fn--;
      const v = pts.values[j]!;
      if (v > part[w]!) {
        windowsSum += v - part[w]!;
        part[w] = v;
      }
    } else {
      fp++;
      tn--;
      fpSum += pts.values[j]!;
    }
  }
  out.push({ threshold, score: windowsSum + fpSum, tp, tn, fp, fn });
  return out;
}

/** The threshold that maximises the summed score (the highest such threshold on ties), as NAB's optimiser. */
export function optimizeThreshold(files: readonly ScoredFile[], cost: CostMatrix): ThresholdScore {
  let best: ThresholdScore | undefined;
  for (const s of scoresByThreshold(files, cost)) if (!best || s.score > best.score) best = s;
  return best!;
}

/** The summed score at a given threshold (detections: score ≥ threshold). */
export function scoreAtThreshold(files: readonly ScoredFile[], cost: CostMatrix, threshold: number): ThresholdScore {
  let chosen: ThresholdScore | undefined;
  for (const s of scoresByThreshold(files, cost)) {
    if (s.threshold < threshold) break;
    chosen = s;
  }
  return chosen!;
}

/** One profile's result. */
export interface ProfileResult {
  /** 100 · (S − S_null) / (S_perfect − S_null). */
  normalized: number;
  raw: number;
  threshold: number;
  nullScore: number;
  perfectScore: number;
  tp: number;
  fp: number;
  fn: number;
}

/** The normalised score of one profile, with the threshold optimised over `files` (or the one given). */
export function scoreProfile(files: readonly ScoredFile[], cost: CostMatrix, threshold?: number): ProfileResult {
  const best = threshold === undefined ? optimizeThreshold(files, cost) : scoreAtThreshold(files, cost, threshold);
  const nullFiles = files.map((f) => ({ ...f, scores: new Float64Array(f.scores.length).fill(0.5) }));
  const nullScore = optimizeThreshold(nullFiles, cost).score;
  const windows = files.reduce((n, f) => n + f.windows.length, 0);
  const perfectScore = windows * cost.tpWeight;
  return {
    normalized: (100 * (best.score - nullScore)) / (perfectScore - nullScore),
    raw: best.score,
    threshold: best.threshold,
    nullScore,
    perfectScore,
    tp: best.tp,
    fp: best.fp,
    fn: best.fn,
  };
}

/** All three profiles, each with its own optimised threshold. */
export function scoreAllProfiles(files: readonly ScoredFile[]): Record<ProfileName, ProfileResult> {
  return {
    standard: scoreProfile(files, PROFILES.standard),
    reward_low_FP_rate: scoreProfile(files, PROFILES.reward_low_FP_rate),
    reward_low_FN_rate: scoreProfile(files, PROFILES.reward_low_FN_rate),
  };
}

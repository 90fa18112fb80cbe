/**
 * The NAB benchmark (`npm run bench:nab`): prints ONE JSON document on stdout, progress on stderr.
 *
 *   scorer        the scorer checked against the two published detectors in reference/ first
 *   recommended   the recommended detector's three profile scores (thresholds optimised as NAB does;
 *                 tp/fp/fn count points, as NAB's do), and the windows it found at the standard one
 *   detectors     every registered detector: its three scores (thresholds optimised), the three at
 *                 its own recommended threshold, and points per second on one core (CPU time of
 *                 this single-threaded process, scoring only: parsing is left out)
 *
 * Options: --explain (per-file breakdown of the recommended detector on stderr).
 * Data: ../shared/data/nab (or NAB_DIR). One parameter set for every file, no look-ahead.
 */
import os from 'node:os';
import { detectors, recommendedDetector } from '../../src/analyze/detectors/index.ts';
import type { DetectorDefinition } from '../../src/analyze/detectors/types.ts';
import { loadReferenceScores, loadSeries, NAB_DIR, nabAvailable, referenceDetectors, type NabSeries } from './data.ts';
import { explain, runDetector } from './evaluate.ts';
import { REFERENCE_SCORES, REFERENCE_TOLERANCE } from './reference.ts';
import { PROFILES, scoreAllProfiles, scoreProfile, type ProfileName, type ProfileResult, type ScoredFile } from './scorer.ts';

/** Speed is measured over at least this much CPU time per detector. */
const MIN_CPU_SECONDS = 1;

const round = (x: number, digits = 2): number => Math.round(x * 10 ** digits) / 10 ** digits;

function summary(r: Record<ProfileName, ProfileResult>): Record<ProfileName, { score: number; threshold: number; raw: number; tp: number; fp: number; fn: number }> {
  const out = {} as Record<ProfileName, { score: number; threshold: number; raw: number; tp: number; fp: number; fn: number }>;
  for (const [k, v] of Object.entries(r) as Array<[ProfileName, ProfileResult]>) {
    out[k] = { score: round(v.normalized), threshold: round(v.threshold, 6), raw: round(v.raw, 3), tp: v.tp, fp: v.fp, fn: v.fn };
  }
  return out;
}

/** Points per second of CPU time, scoring every series (repeated until MIN_CPU_SECONDS). */
function speed(def: DetectorDefinition, series: readonly NabSeries[]): number {
  // One warm-up pass lets the JIT settle, as it would in a long-running loop.
  runDetector(def, series);
  let points = 0;
  const start = process.cpuUsage();
  let cpu = 0;
  while (cpu < MIN_CPU_SECONDS) {
    points += runDetector(def, series).points;
    const used = process.cpuUsage(start);
    cpu = (used.user + used.system) / 1e6;
  }
  return Math.round(points / cpu);
}

function main(): void {
  if (!nabAvailable()) {
    process.stderr.write(`bench:nab: no data set at ${NAB_DIR} (set NAB_DIR)\n`);
    process.exit(2);
  }
  const progress = (msg: string): boolean => process.stderr.write(`bench:nab: ${msg}\n`);

  progress('checking the scorer against the published results');
  const scorer: Record<string, unknown> = {};
  let scorerOk = true;
  for (const name of referenceDetectors()) {
    const got = scoreAllProfiles(loadReferenceScores(name) as ScoredFile[]);
    const expected = REFERENCE_SCORES[name];
    const agrees = expected ? (Object.keys(expected) as ProfileName[]).every((p) => Math.abs(got[p].normalized - expected[p]) <= REFERENCE_TOLERANCE) : null;
    if (agrees === false) scorerOk = false;
    scorer[name] = { expected: expected ?? null, got: Object.fromEntries(Object.entries(got).map(([p, v]) => [p, round(v.normalized, 3)])), agrees };
  }
  if (!scorerOk) progress('WARNING: the scorer does not reproduce the published results');

  const series = loadSeries();
  const points = series.reduce((n, s) => n + s.values.length, 0);
  const windows = series.reduce((n, s) => n + s.windows.length, 0);
  const results: Record<string, unknown> = {};
  let recommended: Record<ProfileName, ProfileResult> | undefined;
  let recommendedFiles: ScoredFile[] = [];
  for (const def of Object.values(detectors)) {
    progress(`scoring ${def.name}`);
    const run = runDetector(def, series);
    const scores = scoreAllProfiles(run.files);
    if (def === recommendedDetector) {
      recommended = scores;
      recommendedFiles = run.files;
    }
    progress(`timing ${def.name}`);
    const fixed = Object.fromEntries(
      (Object.keys(PROFILES) as ProfileName[]).map((p) => [p, round(scoreProfile(run.files, PROFILES[p], def.threshold).normalized)]),
    );
    results[def.name] = {
      family: def.family,
      scores: summary(scores),
      atRecommendedThreshold: { threshold: def.threshold, ...fixed },
      pointsPerSecond: speed(def, series),
    };
  }
  // Windows found and false-positive points of the recommended detector at its standard threshold.
  const files = recommended ? explain(recommendedFiles, PROFILES.standard, recommended.standard.threshold) : [];
  if (process.argv.includes('--explain')) {
    for (const f of files) progress(`${f.name}: windows ${f.found}/${f.windows} at ${JSON.stringify(f.positions)}, ${f.fpPoints} false-positive points (${f.fpCost}), score ${f.score}`);
  }
  const windowsFound = files.reduce((n, f) => n + f.found, 0);
  const falsePositivePoints = files.reduce((n, f) => n + f.fpPoints, 0);
  const doc = {
    benchmark: 'nab',
    date: new Date().toISOString(),
    settings: { node: process.version, cpu: os.cpus()[0]?.model ?? 'unknown', data: NAB_DIR, files: series.length, points, windows },
    scorer: { reproducesReference: scorerOk, tolerance: REFERENCE_TOLERANCE, detectors: scorer },
    recommended: { detector: recommendedDetector.name, ...(recommended ? summary(recommended) : {}), standardThreshold: { windowsFound, windows, falsePositivePoints } },
    detectors: results,
  };
  process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
}

main();

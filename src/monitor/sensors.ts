/** PromQL sensors: one tick queries Prometheus at its scheduled time and commits one observation per subject. */
import type { SensorConfig } from '../config.ts';
import { subjectKey } from '../analyze/findings.ts';
import { sensorFingerprint } from '../analyze/sensor-findings.ts';
import { stableId } from '../ids.ts';
import type { NewObservation } from '../knowledge/store.ts';
import { PromQLError, type QueryFn } from './promql.ts';
import { evaluateBurnRate, WORKBOOK_WINDOWS, type SloSpec } from '../analyze/detectors/burn-rate.ts';
import { parseDuration } from '../clock.ts';

/** What one tick saw. */
export interface SensorTick {
  observations: NewObservation[];
  /** Series left out, and why (no subject label, not a number). */
  skipped: Array<{ reason: 'no_subject' | 'not_a_number'; labels: Record<string, string> }>;
}

/** The tick time of a scheduler job: its id carries the scheduled millis (`repeat:KEY:MILLIS`). */
export function tickTime(jobId: string | undefined, fallback: number, everyMs: number): number {
  const m = jobId ? /:(\d{10,})$/.exec(jobId) : null;
  if (m) return Number(m[1]);
  return Math.floor(fallback / everyMs) * everyMs;
}

/**
 * Queries the sensor at `at` and turns each series into an observation whose dedup key is
 * (sensor, subject, tick): replicas ticking the same sensor collapse into one. An empty answer is
 * no data, never zero: it yields nothing.
 */
export async function readSensor(query: QueryFn, sensor: SensorConfig, at: number): Promise<SensorTick> {
  if (sensor.burnRate) return readBurnRate(query, sensor, at);
  const samples = await query(sensor.query, at);
  const tick: SensorTick = { observations: [], skipped: [] };
  for (const s of samples) {
    const subject: Record<string, string> = {};
    const missing = sensor.subjectLabels.filter((l) => !s.labels[l]);
    if (missing.length) {
      tick.skipped.push({ reason: 'no_subject', labels: s.labels });
      continue;
    }
    if (!Number.isFinite(s.value)) {
      tick.skipped.push({ reason: 'not_a_number', labels: s.labels });
      continue;
    }
    for (const l of sensor.subjectLabels) subject[l] = s.labels[l]!;
    const dedupKey = `sensor|${sensor.name}|${subjectKey(subject)}|${at}`;
    tick.observations.push({
      id: stableId('obs', dedupKey),
      source: 'sensor',
      dedupKey,
      name: sensor.name,
      status: 'sample',
      fingerprint: sensorFingerprint(sensor.name, subject),
      labels: subject,
      payload: { at, value: s.value, query: sensor.query },
    });
  }
  return tick;
}

/** The PromQL duration of a window in ms (`3600s`). */
function promDuration(ms: number): string {
  return `${Math.round(ms / 1000)}s`;
}

/**
 * A burn-rate sensor: the error ratio over each window of the SLO's alerts, evaluated together;
 * one observation whose value is 1 while an alert fires, with the burn rates as evidence. No data
 * for every window is no observation.
 */
async function readBurnRate(query: QueryFn, sensor: SensorConfig, at: number): Promise<SensorTick> {
  const spec = burnRateSpec(sensor);
  const windows = [...new Set(spec.windows!.flatMap((w) => [w.longMs, w.shortMs]))];
  const ratios = new Map<number, number>();
  for (const w of windows) {
    const samples = await query(sensor.query.replaceAll('$window', promDuration(w)), at);
    const value = samples.find((s) => Number.isFinite(s.value))?.value;
    if (value !== undefined) ratios.set(w, value);
  }
  if (ratios.size === 0) return { observations: [], skipped: [] };
  const result = evaluateBurnRate(spec, (w) => ratios.get(w));
  const dedupKey = `sensor|${sensor.name}|${subjectKey({})}|${at}`;
  return {
    skipped: [],
    observations: [
      {
        id: stableId('obs', dedupKey),
        source: 'sensor',
        dedupKey,
        name: sensor.name,
        status: 'sample',
        fingerprint: sensorFingerprint(sensor.name, {}),
        labels: {},
        payload: { at, value: result.firing ? 1 : 0, query: sensor.query, evidence: { burnRate: result } },
      },
    ],
  };
}

/** The SLO of a burn-rate sensor, windows in ms. */
export function burnRateSpec(sensor: SensorConfig): SloSpec {
  const b = sensor.burnRate!;
  return {
    objective: b.objective,
    windows: b.windows
      ? b.windows.map((w) => ({ longMs: parseDuration(w.long), shortMs: parseDuration(w.short), factor: w.factor, severity: w.severity }))
      : WORKBOOK_WINDOWS,
  };
}

/** The metric reason of a failed query. */
export function failureReason(err: unknown): string {
  return err instanceof PromQLError ? err.reason : 'unavailable';
}

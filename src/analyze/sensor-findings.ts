/** Analyze, for sensors: each sample steps its (sensor, subject) threshold rule; firing opens a finding. Pure. */
import { parseDuration } from '../clock.ts';
import type { SensorConfig } from '../config.ts';
import { stableId } from '../ids.ts';
import { INACTIVE, stepThreshold, type ThresholdRule, type ThresholdState } from './detectors/threshold.ts';
import { subjectKey, type FindingDraft } from './findings.ts';

/** One sample a sensor saw for one subject. */
export interface SensorSample {
  at: number;
  value: number;
  subject: Record<string, string>;
  /** What the sample was computed from (a burn-rate sensor's windows and rates). */
  evidence?: Record<string, unknown>;
}

/** What one sample changed. */
export interface SensorVerdict {
  state: ThresholdState & { lastAt?: number };
  /** A finding when the rule started firing. */
  draft?: FindingDraft;
  /** The finding the rule stopped firing for. */
  resolvedFindingId?: string;
}

/** The threshold rule of a sensor, durations in ms. */
export function sensorRule(sensor: SensorConfig): ThresholdRule {
  const t = sensor.threshold;
  return {
    direction: t.direction,
    fire: t.fire,
    clear: t.clear,
    forMs: t.for ? parseDuration(t.for) : 0,
    keepFiringForMs: t.keepFiringFor ? parseDuration(t.keepFiringFor) : 0,
  };
}

/** The stable fingerprint of a (sensor, subject) pair. */
export function sensorFingerprint(sensor: string, subject: Record<string, string>): string {
  return stableId('sensor', sensor, subjectKey(subject));
}

/** Steps the rule; a sample older than the last one seen changes nothing (ticks may be analyzed out of order). */
export function judgeSample(sensor: SensorConfig, previous: (ThresholdState & { lastAt?: number }) | null, sample: SensorSample): SensorVerdict {
  const state = previous ?? { ...INACTIVE };
  if (state.lastAt !== undefined && sample.at <= state.lastAt) return { state };
  const { state: next, event } = stepThreshold(sensorRule(sensor), state, sample.at, sample.value);
  const verdict: SensorVerdict = { state: { ...next, lastAt: sample.at } };
  const fingerprint = sensorFingerprint(sensor.name, sample.subject);
  if (event?.type === 'firing') {
    const startsAt = new Date(event.evidence.firingSince ?? sample.at).toISOString();
    const labels = { alertname: sensor.name, ...sample.subject, severity: sensor.severity };
    verdict.draft = {
      id: stableId('fnd', fingerprint, startsAt),
      fingerprint,
      name: sensor.name,
      kind: sensor.burnRate ? 'burn_rate' : 'threshold',
      severity: sensor.severity,
      labels,
      evidence: { startsAt, value: sample.value, query: sensor.query, summary: sensor.summary, ...event.evidence, ...sample.evidence },
      ...(sensor.playbook
        ? { route: { playbook: sensor.playbook, subject: sample.subject, subjectKey: subjectKey(sample.subject) } }
        : { unrouted: `sensor ${sensor.name} names no playbook: finding recorded` }),
    };
  } else if (event?.type === 'resolved' && state.firingSince !== undefined) {
    verdict.resolvedFindingId = stableId('fnd', fingerprint, new Date(state.firingSince).toISOString());
  }
  return verdict;
}

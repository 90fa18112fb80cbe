/** Backtest: a sensor's recorded series through its detector, in time order, no look-ahead. Pure. */
import type { SensorConfig } from '../config.ts';
import { subjectKey, type FindingDraft } from './findings.ts';
import { judgeSample, type SensorVerdict } from './sensor-findings.ts';

/** One series of a range query: its labels and (time ms, value) points. */
export interface RangeSeries {
  labels: Record<string, string>;
  points: Array<{ at: number; value: number }>;
}

/** One finding the policy would have raised, and when it would have resolved. */
export interface BacktestFinding {
  sensor: string;
  subject: Record<string, string>;
  firedAt: string;
  resolvedAt?: string;
  severity: string;
  playbook?: string;
  evidence: Record<string, unknown>;
}

/** Runs one sensor's detector over its series; series lacking a subject label are skipped. */
export function backtestSensor(sensor: SensorConfig, series: RangeSeries[]): BacktestFinding[] {
  const out: BacktestFinding[] = [];
  for (const s of series) {
    if (sensor.subjectLabels.some((l) => !s.labels[l])) continue;
    const subject = Object.fromEntries(sensor.subjectLabels.map((l) => [l, s.labels[l]!]));
    let state: SensorVerdict['state'] | null = null;
    let open: { finding: BacktestFinding; draft: FindingDraft } | undefined;
    for (const p of [...s.points].sort((a, b) => a.at - b.at)) {
      const verdict = judgeSample(sensor, state, { at: p.at, value: p.value, subject });
      state = verdict.state;
      if (verdict.draft) {
        open = {
          draft: verdict.draft,
          finding: {
            sensor: sensor.name,
            subject,
            firedAt: new Date(p.at).toISOString(),
            severity: sensor.severity,
            playbook: sensor.playbook,
            evidence: verdict.draft.evidence,
          },
        };
        out.push(open.finding);
      }
      if (verdict.resolvedFindingId && open && verdict.resolvedFindingId === open.draft.id) {
        open.finding.resolvedAt = new Date(p.at).toISOString();
        open = undefined;
      }
    }
  }
  return out.sort((a, b) => a.firedAt.localeCompare(b.firedAt) || subjectKey(a.subject).localeCompare(subjectKey(b.subject)));
}

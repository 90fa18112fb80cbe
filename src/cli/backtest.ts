/** `mapek backtest --policy FILE --from T --to T`: the findings a policy's sensors would have raised, with times. */
import { backtestSensor, type BacktestFinding } from '../analyze/backtest.ts';
import { parseDuration } from '../clock.ts';
import type { Pack } from '../config.ts';
import type { RangeQueryFn } from '../monitor/promql.ts';

/** What a backtest found, per sensor. */
export interface BacktestReport {
  from: string;
  to: string;
  findings: BacktestFinding[];
  errors: Array<{ sensor: string; error: string }>;
}

/** Runs every sensor of the pack (or those named) over [from, to] at its own interval. */
export async function backtest(pack: Pack, query: RangeQueryFn, from: number, to: number, only?: string[]): Promise<BacktestReport> {
  const report: BacktestReport = { from: new Date(from).toISOString(), to: new Date(to).toISOString(), findings: [], errors: [] };
  for (const sensor of pack.sensors) {
    if (only && !only.includes(sensor.name)) continue;
    try {
      const series = await query(sensor.query, from, to, parseDuration(sensor.interval));
      report.findings.push(...backtestSensor(sensor, series));
    } catch (err) {
      report.errors.push({ sensor: sensor.name, error: (err as Error).message });
    }
  }
  report.findings.sort((a, b) => a.firedAt.localeCompare(b.firedAt));
  return report;
}

/** The report as a terminal table. */
export function formatBacktest(r: BacktestReport, table: (h: string[], rows: string[][]) => string): string {
  const rows = r.findings.map((f) => [
    f.firedAt,
    f.resolvedAt ?? '(still firing)',
    f.sensor,
    Object.entries(f.subject).map(([k, v]) => `${k}=${v}`).join(',') || '-',
    f.severity,
    String(f.evidence.value),
    f.playbook ?? '-',
  ]);
  const errors = r.errors.map((e) => `error: ${e.sensor}: ${e.error}`);
  return [`backtest ${r.from} → ${r.to}: ${r.findings.length} finding(s)`, table(['fired', 'resolved', 'sensor', 'subject', 'severity', 'value', 'playbook'], rows), ...errors].join('\n');
}

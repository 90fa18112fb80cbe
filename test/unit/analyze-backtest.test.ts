/** Backtest over recorded series: episodes with their start and end, for-durations honoured, no subject no finding. */
import { describe, expect, it } from 'vitest';
import { backtestSensor } from '../../src/analyze/backtest.ts';
import type { SensorConfig } from '../../src/config.ts';

const sensor: SensorConfig = {
  name: 'forbidden_attempt_rate',
  query: 'q',
  interval: '15s',
  timeout: '10s',
  subjectLabels: ['node_or_service'],
  threshold: { direction: 'above', fire: 3, clear: 1 },
  severity: 'warning',
};
const t0 = Date.parse('2026-12-04T10:00:00Z');
const series = (values: number[], labels: Record<string, string> = { node_or_service: 'n1' }) => ({ labels, points: values.map((value, i) => ({ at: t0 + i * 15_000, value })) });

describe('backtestSensor', () => {
  it('reports each episode once, with when it fired and when it cleared (hysteresis)', () => {
    const found = backtestSensor(sensor, [series([0, 1, 5, 6, 2, 0.5, 0, 4, 4])]);
    expect(found.map((f) => [f.firedAt, f.resolvedAt])).toEqual([
      ['2026-12-04T10:00:30.000Z', '2026-12-04T10:01:15.000Z'],
      ['2026-12-04T10:01:45.000Z', undefined],
    ]);
    expect(found[0]!.subject).toEqual({ node_or_service: 'n1' });
    expect(found[0]!.evidence).toMatchObject({ fire: 3, clear: 1, value: 5 });
  });

  it('honours the for-duration and ignores NaN (no data is not zero)', () => {
    const slow = { ...sensor, threshold: { ...sensor.threshold, for: '30s' } };
    expect(backtestSensor(slow, [series([5, 5, 0, 5, 5, 5])]).map((f) => f.firedAt)).toEqual(['2026-12-04T10:01:15.000Z']);
    expect(backtestSensor(sensor, [series([NaN, NaN, NaN])])).toEqual([]);
  });

  it('skips series without the subject label and keeps subjects apart', () => {
    const found = backtestSensor(sensor, [series([9], {}), series([9], { node_or_service: 'a' }), series([0, 9], { node_or_service: 'b' })]);
    expect(found.map((f) => f.subject.node_or_service)).toEqual(['a', 'b']);
  });
});

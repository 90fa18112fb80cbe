/** A burn-rate sensor: every window's error ratio in one tick, one sample (1 while an alert fires) with the rates as evidence. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { judgeSample } from '../../src/analyze/sensor-findings.ts';
import { loadPack } from '../../src/config.ts';
import { ConfigError } from '../../src/errors.ts';
import { readSensor } from '../../src/monitor/sensors.ts';

const pack = loadPack();
const sensor = pack.sensors.find((s) => s.name === 'committee_notification_slo_burn')!;

function ratios(byWindow: Record<string, number | undefined>) {
  const asked: string[] = [];
  const query = async (promql: string) => {
    const w = /\[(\d+s)\]/.exec(promql)![1]!;
    asked.push(w);
    const v = byWindow[w];
    return v === undefined ? [] : [{ labels: {}, value: v }];
  };
  return { query, asked };
}

describe('burn-rate sensors', () => {
  it('asks each distinct window once and fires when a long and its short window both burn faster than their factor', async () => {
    // 99% objective: a budget of 1%; 20% errors burn at 20x, above 14.4x (1h & 5m)
    const { query, asked } = ratios({ '3600s': 0.2, '300s': 0.2, '21600s': 0.01, '1800s': 0.01, '259200s': 0.001 });
    const tick = await readSensor(query, sensor, 1_000_000);
    expect(asked.sort()).toEqual(['1800s', '21600s', '259200s', '300s', '3600s'].sort());
    expect(tick.observations).toHaveLength(1);
    const payload = tick.observations[0]!.payload as { value: number; evidence: { burnRate: { firing: boolean; severity: string } } };
    expect(payload.value).toBe(1);
    expect(payload.evidence.burnRate).toMatchObject({ firing: true, severity: 'page' });
    const verdict = judgeSample(sensor, null, { at: 1_000_000, value: payload.value, subject: {}, evidence: payload.evidence });
    expect(verdict.draft).toMatchObject({ kind: 'burn_rate', route: { playbook: 'committee-notification-latency' } });
    expect(verdict.draft!.evidence).toMatchObject({ burnRate: { firing: true } });
  });

  it('a short window that stopped burning keeps it quiet; no data at all is no observation', async () => {
    const calm = await readSensor(ratios({ '3600s': 0.2, '300s': 0, '21600s': 0.01, '1800s': 0, '259200s': 0 }).query, sensor, 1);
    expect((calm.observations[0]!.payload as { value: number }).value).toBe(0);
    const none = await readSensor(ratios({}).query, sensor, 1);
    expect(none.observations).toEqual([]);
  });

  it('a burn-rate sensor without $window is a configuration error naming the sensor and the field', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mapek-burn-'));
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'sensors:\n  - name: bad_slo\n    query: sum(rate(x[5m]))\n    burnRate: { objective: 0.99 }\n    severity: warning\n');
    expect(() => loadPack(file)).toThrow(ConfigError);
    expect(() => loadPack(file)).toThrow(/sensors\.0 \(bad_slo\)\.query: a burn-rate sensor query must use \$window/);
  });
});

// The simulator's background traffic, stepped on a fake clock for hours: every metric
// moves, and no alert threshold of CHARTER.md is ever crossed.
import { describe, expect, it } from 'vitest';
import { CharterActivity, DEFAULT_BACKGROUND_NODES } from '../../sim/activity.ts';
import { SimulatedCharter } from '../../sim/charter.ts';
import { CharterMetrics } from '../../sim/metrics.ts';
import { seededRandom } from '../../sim/random.ts';

interface Scrape {
  at: number;
  values: Map<string, number>;
}

/** Flattens a registry into `name{sorted labels}` → value. */
async function scrape(metrics: CharterMetrics, at: number): Promise<Scrape> {
  const values = new Map<string, number>();
  for (const metric of await metrics.registry.getMetricsAsJSON()) {
    for (const v of metric.values) {
      const name = (v as { metricName?: string }).metricName ?? metric.name;
      const labels = Object.entries(v.labels).sort(([a], [b]) => a.localeCompare(b)).map(([k, x]) => `${k}=${String(x)}`).join(',');
      values.set(`${name}{${labels}}`, v.value);
    }
  }
  return { at, values };
}

function total(s: Scrape, prefix: string, contains = ''): number {
  let acc = 0;
  for (const [k, v] of s.values) if (k.startsWith(`${prefix}{`) && k.includes(contains)) acc += v;
  return acc;
}

const M = (name: string): string => `westworld_charter_${name}`;

describe('background activity', () => {
  for (const seed of [42, 7, 2024]) {
    it(`stays under every threshold for 3 simulated hours (seed ${seed})`, async () => {
      let now = Date.parse('2030-01-01T00:00:00Z');
      const metrics = new CharterMetrics();
      const charter = new SimulatedCharter({
        metrics, random: seededRandom(seed), now: () => now, committeeSize: 7, nodes: DEFAULT_BACKGROUND_NODES,
      });
      const activity = new CharterActivity(charter);
      const scrapes: Scrape[] = [];
      for (let second = 1; second <= 3 * 3600; second++) {
        now += 1000;
        activity.tick();
        if (second % 15 === 0) scrapes.push(await scrape(metrics, now));
      }

      const first = scrapes[0];
      const last = scrapes[scrapes.length - 1];
      if (!first || !last) throw new Error('no scrapes');
      // Every metric moves early (the warm-up at the first tick).
      for (const name of ['violations_total', 'forbidden_metric_attempts_total', 'data_revocation_events_total',
        'audit_committee_notifications_total', 'investigation_initiated_total', 'emergency_override_total']) {
        expect(total(first, M(name)), name).toBeGreaterThan(0);
      }
      for (const name of ['metric_validation_latency_ns', 'policy_load_duration_ms', 'violation_report_latency_ms',
        'committee_notification_latency_ms', 'data_revocation_latency_ms']) {
        expect(total(first, M(`${name}_count`)), name).toBeGreaterThan(0);
      }
      // Plausible, not dead: it keeps going over the hours.
      expect(total(last, M('violations_total'))).toBeGreaterThan(50);
      expect(total(last, M('forbidden_metric_attempts_total'))).toBeGreaterThan(50);
      expect(total(last, M('data_revocation_events_total'))).toBeGreaterThan(3);

      const windowed = (minutes: number, check: (from: Scrape, to: Scrape) => void): void => {
        const steps = (minutes * 60) / 15;
        for (let i = steps; i < scrapes.length; i++) {
          const from = scrapes[i - steps];
          const to = scrapes[i];
          if (from && to) check(from, to);
        }
      };
      windowed(5, (from, to) => {
        for (const node of DEFAULT_BACKGROUND_NODES) {
          const inc = total(to, M('violations_total'), `node_or_service=${node},`) - total(from, M('violations_total'), `node_or_service=${node},`);
          expect(inc, `rule 1: ${node} at ${to.at}`).toBeLessThanOrEqual(3);
        }
        const revocations = total(to, M('data_revocation_events_total')) - total(from, M('data_revocation_events_total'));
        expect(revocations, 'rule 11').toBeLessThanOrEqual(3);
      });
      windowed(1, (from, to) => {
        for (const node of DEFAULT_BACKGROUND_NODES) {
          const inc = total(to, M('forbidden_metric_attempts_total'), `node_or_service=${node},`) -
            total(from, M('forbidden_metric_attempts_total'), `node_or_service=${node},`);
          expect(inc, `rule 2: ${node}`).toBeLessThanOrEqual(2);
        }
        expect((total(to, M('violations_total')) - total(from, M('violations_total'))) / 60, 'rule 10').toBeLessThan(0.5);
        expect(total(to, M('data_revocation_events_total')) - total(from, M('data_revocation_events_total')), 'rule 11').toBeLessThanOrEqual(1);
      });
      windowed(60, (from, to) => {
        const loads = total(to, M('policy_load_duration_ms_count')) - total(from, M('policy_load_duration_ms_count'));
        expect(loads, 'rule 8').toBeLessThanOrEqual(5);
      });
      for (const s of scrapes) {
        expect(total(s, M('violations_total'), 'PERMANENT_BAN') + total(s, M('violations_total'), 'CRIMINAL_REFERRAL'), 'rule 1 bans').toBe(0);
        expect(total(s, M('violations_total'), 'BAN_1YEAR')).toBe(0);
        expect(s.at / 1000 - total(s, M('policy_last_load_timestamp')), 'rule 4').toBeLessThan(25 * 60);
        expect(total(s, M('emergency_override_active_count')), 'rule 5').toBe(0);
        const investigating = total(s, M('violations_under_investigation'));
        expect(investigating, 'rule 9').toBeLessThanOrEqual(6);
        expect(investigating).toBeGreaterThan(0);
        expect(total(s, M('audit_committee_size'))).toBe(7);
      }
      // Rules 3, 6 and 7: no observation above the SLA bucket at all.
      expect(total(last, M('metric_validation_latency_ns_bucket'), 'le=10000}')).toBe(total(last, M('metric_validation_latency_ns_count')));
      expect(total(last, M('committee_notification_latency_ms_bucket'), 'le=1000}')).toBe(total(last, M('committee_notification_latency_ms_count')));
      expect(total(last, M('data_revocation_latency_ms_bucket'), 'le=5000}')).toBe(total(last, M('data_revocation_latency_ms_count')));
    }, 60_000);
  }
});

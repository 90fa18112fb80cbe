// The threshold detector: for-duration, hysteresis (a separate clearing threshold), keep-firing-for.
// Time steps minute by minute over series written as plain arrays.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { evaluateThreshold, INACTIVE, stepThreshold, type ThresholdRule } from '../../src/analyze/detectors/threshold.ts';
import { ValidationError } from '../../src/errors.ts';

const MIN = 60_000;
/** Samples one minute apart, starting at 0. */
const series = (values: number[]): Array<{ t: number; value: number }> => values.map((value, i) => ({ t: i * MIN, value }));
const kinds = (rule: ThresholdRule, values: number[]): string[] =>
  evaluateThreshold(rule, series(values)).events.map((e) => `${e.type}@${e.at / MIN}`);

describe('threshold with a for-duration', () => {
  const rule: ThresholdRule = { direction: 'above', fire: 100, forMs: 3 * MIN };

  it('fires only once the breach has held for the whole duration', () => {
    expect(kinds(rule, [90, 101, 102, 103, 104, 105])).toEqual(['pending@1', 'firing@4']);
  });

  it('a breach that lapses before the duration is cancelled, and the clock restarts', () => {
    expect(kinds(rule, [101, 102, 99, 101, 102, 103, 104])).toEqual(['pending@0', 'cancelled@2', 'pending@3', 'firing@6']);
  });

  it('fires at once without a duration, and resolves when the value is back', () => {
    expect(kinds({ direction: 'above', fire: 100 }, [99, 100, 101, 100])).toEqual(['firing@2', 'resolved@3']);
  });

  it('below: a breach is a value under the line', () => {
    expect(kinds({ direction: 'below', fire: 10, forMs: MIN }, [12, 9, 8, 11])).toEqual(['pending@1', 'firing@2', 'resolved@3']);
  });

  it('carries its evidence: the value, the thresholds and when the breach began', () => {
    const { events, episodes } = evaluateThreshold(rule, series([90, 101, 102, 103, 120, 104, 50]));
    const fired = events.find((e) => e.type === 'firing')!;
    expect(fired.value).toBe(120);
    expect(fired.evidence).toMatchObject({ fire: 100, clear: 100, direction: 'above', forMs: 3 * MIN, since: MIN });
    expect(episodes).toEqual([{ since: MIN, firedAt: 4 * MIN, resolvedAt: 6 * MIN, peak: 120 }]);
  });
});

describe('hysteresis and keep-firing-for', () => {
  it('a value hovering at the line does not flap once firing: only the clearing threshold resolves it', () => {
    const rule: ThresholdRule = { direction: 'above', fire: 100, clear: 90 };
    const hovering = [101, 99, 101, 98, 100.5, 95, 101, 91, 89];
    expect(kinds(rule, hovering)).toEqual(['firing@0', 'resolved@8']);
    // Without hysteresis the same values flap.
    expect(kinds({ direction: 'above', fire: 100 }, hovering).filter((k) => k.startsWith('firing')).length).toBe(4);
  });

  it('keeps firing for a while after clearing, and a relapse within that time keeps the same episode', () => {
    const rule: ThresholdRule = { direction: 'above', fire: 100, clear: 90, keepFiringForMs: 3 * MIN };
    expect(kinds(rule, [101, 80, 80, 95, 80, 80, 80, 80])).toEqual(['firing@0', 'resolved@7']);
    const { episodes } = evaluateThreshold(rule, series([101, 80, 80, 95, 80, 80, 80, 80]));
    expect(episodes).toHaveLength(1);
  });

  it('a missing sample changes nothing: no alarm from, and no resolution by, missing data', () => {
    const rule: ThresholdRule = { direction: 'above', fire: 100, forMs: 2 * MIN };
    expect(kinds(rule, [101, Number.NaN, Number.NaN, 102, 103])).toEqual(['pending@0', 'firing@3']);
    expect(kinds({ direction: 'above', fire: 100 }, [101, Number.NaN, Number.NaN])).toEqual(['firing@0']);
  });

  it('never flaps under any series when clear is below fire: firing and resolving alternate with a real crossing between', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: 80, max: 120, noNaN: true }), { maxLength: 200 }), (values) => {
        const rule: ThresholdRule = { direction: 'above', fire: 100, clear: 90, forMs: 2 * MIN, keepFiringForMs: MIN };
        const { events } = evaluateThreshold(rule, series(values));
        const firing = events.filter((e) => e.type === 'firing' || e.type === 'resolved');
        firing.forEach((e, i) => expect(e.type).toBe(i % 2 === 0 ? 'firing' : 'resolved'));
        for (const e of events.filter((x) => x.type === 'resolved')) expect(e.value).toBeLessThanOrEqual(90);
        for (const e of events.filter((x) => x.type === 'firing')) expect(e.value).toBeGreaterThan(100);
      }),
    );
  });
});

describe('rule checks', () => {
  it('refuses a clearing threshold on the wrong side, negative durations and a bad direction, naming the field', () => {
    const bad = (rule: Partial<ThresholdRule>, field: string): void => {
      try {
        stepThreshold({ direction: 'above', fire: 100, ...rule } as ThresholdRule, INACTIVE, 0, 1);
        expect.unreachable();
      } catch (err) {
        expect(err).toBeInstanceOf(ValidationError);
        expect((err as ValidationError).field).toBe(field);
      }
    };
    bad({ clear: 110 }, 'clear');
    bad({ direction: 'below', clear: 90 } as Partial<ThresholdRule>, 'clear');
    bad({ forMs: -1 }, 'forMs');
    bad({ keepFiringForMs: -5 }, 'keepFiringForMs');
    bad({ direction: 'sideways' as 'above' }, 'direction');
    bad({ fire: Number.NaN }, 'fire');
  });
});

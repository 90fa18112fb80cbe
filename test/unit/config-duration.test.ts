// parseDuration (src/clock.ts): the one duration syntax of the pack and the CLI.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseDuration } from '../../src/clock.ts';

describe('parseDuration', () => {
  it.each([
    ['250ms', 250],
    ['30s', 30_000],
    ['15s', 15_000],
    ['5m', 300_000],
    ['30m', 1_800_000],
    ['2h', 7_200_000],
    ['1d', 86_400_000],
    ['0s', 0],
    ['1.5s', 1_500],
    [' 30s ', 30_000],
  ])('%j is %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', '30', '5 m', 'm5', '1h30m', '-1s', '30S', '1w', '.5s', 'soon', '5mm', '1e3s'])('refuses %j, naming the value', (text) => {
    expect(() => parseDuration(text)).toThrow(`"${text}"`);
  });

  it('is the number times the unit for every whole number and unit', () => {
    const units = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
    fc.assert(
      fc.property(fc.nat({ max: 1_000_000 }), fc.constantFrom(...(Object.keys(units) as Array<keyof typeof units>)), (n, unit) => {
        expect(parseDuration(`${n}${unit}`)).toBe(n * units[unit]);
      }),
    );
  });

  it('orders durations the way their units do', () => {
    expect(parseDuration('999ms')).toBeLessThan(parseDuration('1s'));
    expect(parseDuration('59s')).toBeLessThan(parseDuration('1m'));
    expect(parseDuration('59m')).toBeLessThan(parseDuration('1h'));
    expect(parseDuration('23h')).toBeLessThan(parseDuration('1d'));
  });
});

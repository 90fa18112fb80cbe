/** Time is an input (STYLE.md, habit 2): the only place the stages learn what time it is. */
export interface Clock {
  now(): number;
}

/** The wall clock. */
export const systemClock: Clock = { now: () => Date.now() };

/** Parses durations such as `30s`, `5m`, `2h`, `1d`, `250ms` into milliseconds; throws naming the value. */
export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(text.trim());
  if (!match) throw new Error(`not a duration: "${text}" (expected e.g. 250ms, 30s, 5m, 2h, 1d)`);
  const n = Number(match[1]);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] as 'ms' | 's' | 'm' | 'h' | 'd'];
  return n * unit;
}

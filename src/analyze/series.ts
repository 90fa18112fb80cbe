/**
 * One recorded series as text: `timestamp,value` rows (the `mapek detect` input and NAB's
 * files). Pure parsing only; whoever reads the file owns the I/O. Errors name the line and field.
 */
import { ValidationError } from '../errors.ts';

/** One parsed row; the fields keep their text so a tool can copy them verbatim. */
export interface SeriesRow {
  /** The timestamp as written. */
  timestampText: string;
  /** The value as written. */
  valueText: string;
  /** Milliseconds since the epoch (naive timestamps are read as UTC). */
  t: number;
  value: number;
}

// "2015-09-08 11:39:00", "2015-09-08T11:39:00.123Z", "2015-09-08 11:39:00.000000+02:00", "2015-09-08"
const CALENDAR = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?\s*(Z|[+-]\d{2}:?\d{2})?$/i;
const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/**
 * A timestamp → ms since the epoch, or NaN when it is none of: `YYYY-MM-DD[ T]HH:MM[:SS[.fraction]]`
 * with an optional `Z` or `±HH:MM` offset (naive means UTC), a date alone, or Unix time as a number
 * (seconds; values above 1e11 are taken as milliseconds).
 */
export function parseTimestamp(text: string): number {
  const s = stripQuotes(text.trim());
  const m = CALENDAR.exec(s);
  if (m) {
    const [, y, mo, d, h = '0', mi = '0', sec = '0', frac = '', zone] = m;
    const month = Number(mo);
    const day = Number(d);
    const hour = Number(h);
    const minute = Number(mi);
    const second = Number(sec);
    if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return Number.NaN;
    let t = Date.UTC(Number(y), month - 1, day, hour, minute, second);
    if (frac) t += Math.round(Number(`0.${frac}`) * 1000);
    if (zone && zone.toUpperCase() !== 'Z') {
      const sign = zone.startsWith('-') ? -1 : 1;
      const digits = zone.slice(1).replace(':', '');
      t -= sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2))) * 60_000;
    }
    // Date.UTC rolls 2015-02-31 over into March: refuse it instead.
    if (new Date(Date.UTC(Number(y), month - 1, day)).getUTCDate() !== day) return Number.NaN;
    return t;
  }
  if (NUMBER.test(s)) {
    const n = Number(s);
    return Math.abs(n) > 1e11 ? n : n * 1000;
  }
  return Number.NaN;
}

/** A value field → a finite number, or NaN. */
export function parseValue(text: string): number {
  const s = stripQuotes(text.trim());
  if (!NUMBER.test(s)) return Number.NaN;
  const n = Number(s);
  return Number.isFinite(n) ? n : Number.NaN;
}

function stripQuotes(s: string): string {
  return s.length >= 2 && s.startsWith('"') && s.endsWith('"') ? s.slice(1, -1) : s;
}

/** Checks the header line (`timestamp,value`, any case, optional quotes); throws naming line 1. */
export function checkSeriesHeader(line: string): void {
  const fields = stripBom(line).replace(/\r$/, '').split(',').map((f) => stripQuotes(f.trim()).toLowerCase());
  if (fields.length !== 2 || fields[0] !== 'timestamp' || fields[1] !== 'value') {
    throw new ValidationError(`line 1: expected the header "timestamp,value", got "${truncate(line)}"`, 'header');
  }
}

/**
 * Parses data line `lineNo` (1-based, counting the header). Returns null for a blank line.
 * Throws a ValidationError naming the line and the field when a row is malformed, or when its
 * timestamp is earlier than `previousT` (rows must be in time order).
 */
export function parseSeriesLine(line: string, lineNo: number, previousT = Number.NEGATIVE_INFINITY): SeriesRow | null {
  const text = line.endsWith('\r') ? line.slice(0, -1) : line;
  if (text.trim() === '') return null;
  const comma = text.indexOf(',');
  if (comma < 0 || text.indexOf(',', comma + 1) >= 0) {
    throw new ValidationError(`line ${lineNo}: expected 2 fields (timestamp,value), got ${comma < 0 ? 1 : text.split(',').length}: "${truncate(text)}"`, 'row');
  }
  const timestampText = text.slice(0, comma);
  const valueText = text.slice(comma + 1);
  const t = parseTimestamp(timestampText);
  if (Number.isNaN(t)) {
    throw new ValidationError(`line ${lineNo}, field timestamp: not a timestamp: "${truncate(timestampText)}" (expected e.g. 2015-09-08 11:39:00, ISO 8601, or Unix seconds)`, 'timestamp');
  }
  if (t < previousT) {
    throw new ValidationError(`line ${lineNo}, field timestamp: "${truncate(timestampText)}" is earlier than the row before (rows must be in time order)`, 'timestamp');
  }
  const value = parseValue(valueText);
  if (Number.isNaN(value)) {
    throw new ValidationError(`line ${lineNo}, field value: not a finite number: "${truncate(valueText)}"`, 'value');
  }
  return { timestampText, valueText, t, value };
}

function stripBom(s: string): string {
  return s.charCodeAt(0) === 0xfeff ? s.slice(1) : s;
}

function truncate(s: string): string {
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

// Reading `timestamp,value` rows (mapek detect's input): timestamps in several notations, errors naming line and field.
import { describe, expect, it } from 'vitest';
import { checkSeriesHeader, parseSeriesLine, parseTimestamp, parseValue } from '../../src/analyze/series.ts';
import { ValidationError } from '../../src/errors.ts';

describe('parseTimestamp', () => {
  it('reads NAB-style, ISO 8601 with offsets, dates and Unix time', () => {
    const t = Date.UTC(2015, 8, 8, 11, 39, 0);
    expect(parseTimestamp('2015-09-08 11:39:00')).toBe(t);
    expect(parseTimestamp('2015-09-08 11:39:00.000000')).toBe(t);
    expect(parseTimestamp('2015-09-08T11:39:00Z')).toBe(t);
    expect(parseTimestamp('2015-09-08T13:39:00+02:00')).toBe(t);
    expect(parseTimestamp('2015-09-08T06:39:00-0500')).toBe(t);
    expect(parseTimestamp('2015-09-08 11:39')).toBe(t);
    expect(parseTimestamp('2015-09-08T11:39:00.250Z')).toBe(t + 250);
    expect(parseTimestamp('"2015-09-08 11:39:00"')).toBe(t);
    expect(parseTimestamp('2015-09-08')).toBe(Date.UTC(2015, 8, 8));
    expect(parseTimestamp(String(t / 1000))).toBe(t);
    expect(parseTimestamp(String(t))).toBe(t);
    expect(parseTimestamp('1441712340.5')).toBe(t + 500);
  });

  it('refuses what is not a time', () => {
    for (const bad of ['', 'yesterday', '2015-13-01', '2015-02-30 00:00:00', '2015-09-08 25:00:00', '12:00']) expect(parseTimestamp(bad)).toBeNaN();
  });
});

describe('parseValue', () => {
  it('reads finite numbers only', () => {
    expect([parseValue('1'), parseValue(' -2.5 '), parseValue('1e3'), parseValue('.5')]).toEqual([1, -2.5, 1000, 0.5]);
    for (const bad of ['', 'NaN', 'Infinity', '1,5', 'abc', '0x10', '1e999']) expect(parseValue(bad)).toBeNaN();
  });
});

describe('rows and header', () => {
  it('keeps the fields as written', () => {
    expect(parseSeriesLine('2015-09-08 11:39:00,73\r', 2)).toEqual({ timestampText: '2015-09-08 11:39:00', valueText: '73', t: Date.UTC(2015, 8, 8, 11, 39), value: 73 });
    expect(parseSeriesLine('   ', 5)).toBeNull();
  });

  it('names the line and field of a bad row', () => {
    const err = (line: string, previousT?: number): ValidationError => {
      try {
        parseSeriesLine(line, 7, previousT);
      } catch (e) {
        return e as ValidationError;
      }
      throw new Error('no error');
    };
    expect(err('2015-09-08 11:39:00,abc')).toMatchObject({ field: 'value', message: expect.stringMatching(/^line 7, field value: not a finite number: "abc"/) });
    expect(err('noon,1')).toMatchObject({ field: 'timestamp', message: expect.stringMatching(/^line 7, field timestamp: not a timestamp: "noon"/) });
    expect(err('2015-09-08 11:39:00')).toMatchObject({ field: 'row', message: expect.stringMatching(/^line 7: expected 2 fields/) });
    expect(err('2015-09-08 11:39:00,1,2')).toMatchObject({ field: 'row' });
    expect(err('2015-09-08 11:39:00,1', Date.UTC(2016, 0, 1))).toMatchObject({ field: 'timestamp', message: expect.stringMatching(/earlier than the row before/) });
  });

  it('wants the header timestamp,value', () => {
    expect(() => checkSeriesHeader('timestamp,value')).not.toThrow();
    expect(() => checkSeriesHeader('\ufeff"Timestamp","Value"\r')).not.toThrow();
    expect(() => checkSeriesHeader('time,value')).toThrow(/^line 1: expected the header "timestamp,value"/);
    expect(() => checkSeriesHeader('2015-09-08 11:39:00,73')).toThrow(ValidationError);
  });
});

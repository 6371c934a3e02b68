import { periodAt } from '../gateway/src/budget/period';

const iso = (t: number) => new Date(t).toISOString();
const at = (s: string) => Date.parse(s);

describe('budget periods', () => {
  test('UTC day, month and ISO week', () => {
    const t = at('2026-11-27T17:30:00Z'); // a Friday
    expect(periodAt('day', t)).toEqual({ id: '2026-11-27', start: at('2026-11-27T00:00:00Z'), end: at('2026-11-28T00:00:00Z') });
    expect(periodAt('month', t)).toEqual({ id: '2026-11', start: at('2026-11-01T00:00:00Z'), end: at('2026-12-01T00:00:00Z') });
    expect(periodAt('week', t)).toEqual({ id: '2026-W48', start: at('2026-11-23T00:00:00Z'), end: at('2026-11-30T00:00:00Z') });
  });

  test('end of month and year roll over', () => {
    expect(iso(periodAt('month', at('2026-12-31T23:59:59Z')).end)).toBe('2027-01-01T00:00:00.000Z');
    expect(iso(periodAt('day', at('2026-12-31T23:59:59Z')).end)).toBe('2027-01-01T00:00:00.000Z');
    expect(periodAt('month', at('2027-01-01T00:00:00Z')).id).toBe('2027-01');
  });

  test('leap years: February has 29 days in 2028, 28 in 2027', () => {
    expect(iso(periodAt('month', at('2028-02-10T00:00:00Z')).end)).toBe('2028-03-01T00:00:00.000Z');
    expect(periodAt('day', at('2028-02-29T12:00:00Z')).id).toBe('2028-02-29');
    expect(iso(periodAt('day', at('2028-02-28T12:00:00Z')).end)).toBe('2028-02-29T00:00:00.000Z');
    expect(iso(periodAt('day', at('2027-02-28T12:00:00Z')).end)).toBe('2027-03-01T00:00:00.000Z');
  });

  test('ISO weeks across the year boundary', () => {
    expect(periodAt('week', at('2026-12-31T12:00:00Z')).id).toBe('2026-W53');
    expect(periodAt('week', at('2027-01-03T12:00:00Z')).id).toBe('2026-W53');
    expect(periodAt('week', at('2027-01-04T12:00:00Z')).id).toBe('2027-W01');
    expect(periodAt('week', at('2024-12-30T12:00:00Z')).id).toBe('2025-W01');
  });

  test('time zones: the period follows local midnight', () => {
    // 23:30 UTC on the 30th is already December 1st in Paris (UTC+1).
    const t = at('2026-11-30T23:30:00Z');
    expect(periodAt('month', t, 'UTC').id).toBe('2026-11');
    const paris = periodAt('month', t, 'Europe/Paris');
    expect(paris.id).toBe('2026-12');
    expect(iso(paris.start)).toBe('2026-11-30T23:00:00.000Z');
    expect(iso(paris.end)).toBe('2026-12-31T23:00:00.000Z');
    const la = periodAt('day', at('2026-11-28T05:00:00Z'), 'America/Los_Angeles');
    expect(la.id).toBe('2026-11-27');
    expect(iso(la.end)).toBe('2026-11-28T08:00:00.000Z');
  });

  test('daylight saving changes make 23- and 25-hour days', () => {
    const spring = periodAt('day', at('2026-03-29T12:00:00Z'), 'Europe/Paris');
    expect(spring.end - spring.start).toBe(23 * 3_600_000);
    const autumn = periodAt('day', at('2026-10-25T12:00:00Z'), 'Europe/Paris');
    expect(autumn.end - autumn.start).toBe(25 * 3_600_000);
    const month = periodAt('month', at('2026-03-15T00:00:00Z'), 'America/New_York');
    expect(iso(month.start)).toBe('2026-03-01T05:00:00.000Z');
    expect(iso(month.end)).toBe('2026-04-01T04:00:00.000Z');
  });

  test('zones whose midnight is skipped by DST start the day at the first existing instant', () => {
    // Santiago jumps from 00:00 to 01:00 at the start of DST (first Sunday of September 2026).
    const d = periodAt('day', at('2026-09-06T12:00:00Z'), 'America/Santiago');
    expect(d.id).toBe('2026-09-06');
    expect(iso(d.start)).toBe('2026-09-06T04:00:00.000Z');
  });
});

/**
 * Calendar budget periods (day, ISO week starting Monday, month) in an IANA time zone. A period
 * has an id (part of store keys, so spend resets by itself when the id changes), its start, and
 * its end, which is when the budget resets.
 */
export type PeriodKind = 'day' | 'week' | 'month';

export interface Period {
  id: string;
  start: number;
  end: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

interface Wall {
  year: number;
  month: number; // 1-12
  day: number;
  hour: number;
  minute: number;
  second: number;
}

/** The wall-clock time at `instant` in `timeZone`. */
export function wallClock(instant: number, timeZone: string): Wall {
  const parts = formatter(timeZone).formatToParts(new Date(instant));
  const get = (t: string) => Number(parts.find((p) => p.type === t)!.value);
  return { year: get('year'), month: get('month'), day: get('day'), hour: get('hour'), minute: get('minute'), second: get('second') };
}

/** Milliseconds the zone is ahead of UTC at `instant`. */
function offsetAt(instant: number, timeZone: string): number {
  const w = wallClock(instant, timeZone);
  const asUtc = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second);
  return asUtc - Math.floor(instant / 1000) * 1000;
}

/**
 * The instant of local midnight on the given date. Where midnight does not exist (a DST jump at
 * 00:00) this lands on the first instant after the gap, which is when the day really starts.
 */
export function localMidnight(year: number, month: number, day: number, timeZone: string): number {
  const guess = Date.UTC(year, month - 1, day);
  let t = guess - offsetAt(guess, timeZone);
  const second = guess - offsetAt(t, timeZone);
  if (second !== t) t = Math.max(t, second);
  return t;
}

export function periodAt(kind: PeriodKind, instant: number, timeZone = 'UTC'): Period {
  const w = wallClock(instant, timeZone);
  const pad = (n: number) => String(n).padStart(2, '0');
  if (kind === 'day') {
    const next = new Date(Date.UTC(w.year, w.month - 1, w.day + 1));
    return {
      id: `${w.year}-${pad(w.month)}-${pad(w.day)}`,
      start: localMidnight(w.year, w.month, w.day, timeZone),
      end: localMidnight(next.getUTCFullYear(), next.getUTCMonth() + 1, next.getUTCDate(), timeZone),
    };
  }
  if (kind === 'month') {
    const ny = w.month === 12 ? w.year + 1 : w.year;
    const nm = w.month === 12 ? 1 : w.month + 1;
    return { id: `${w.year}-${pad(w.month)}`, start: localMidnight(w.year, w.month, 1, timeZone), end: localMidnight(ny, nm, 1, timeZone) };
  }
  // ISO week: Monday to Monday; the id names the ISO week-numbering year and week.
  const date = new Date(Date.UTC(w.year, w.month - 1, w.day));
  const dow = (date.getUTCDay() + 6) % 7; // Monday = 0
  const monday = new Date(Date.UTC(w.year, w.month - 1, w.day - dow));
  const nextMonday = new Date(monday.getTime() + 7 * 86_400_000);
  const thursday = new Date(monday.getTime() + 3 * 86_400_000);
  const isoYear = thursday.getUTCFullYear();
  const week = Math.floor((thursday.getTime() - Date.UTC(isoYear, 0, 1)) / (7 * 86_400_000)) + 1;
  return {
    id: `${isoYear}-W${pad(week)}`,
    start: localMidnight(monday.getUTCFullYear(), monday.getUTCMonth() + 1, monday.getUTCDate(), timeZone),
    end: localMidnight(nextMonday.getUTCFullYear(), nextMonday.getUTCMonth() + 1, nextMonday.getUTCDate(), timeZone),
  };
}

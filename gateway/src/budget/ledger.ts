import type { Budget } from '../config/snapshot';
import { periodAt, wallClock, type Period, type PeriodKind } from './period';

/**
 * Where a key's spend and usage are counted: buckets of the LimitStore that never refill
 * (`perMs: 0`), one set per ApiKey and calendar period, so a new period starts from zero by
 * itself when its id changes. All four live under one subject (one Redis key per ApiKey):
 *
 *   usage:<namespace>/<name>:<period>.usd   spend in micro-dollars (the budget's bucket)
 *   usage:<namespace>/<name>:<period>.req   Messages requests admitted
 *   usage:<namespace>/<name>:<period>.in    input tokens (uncached + cache reads + cache writes)
 *   usage:<namespace>/<name>:<period>.out   output tokens
 *
 * Spend is kept in micro-dollars so the Redis store's integer replies (it rounds `used` up to
 * a whole unit) stay exact to a millionth of a dollar. Keys without a budget are counted too,
 * per UTC calendar month, so `status.usage` shows every key's consumption.
 */
export const MICROS = 1_000_000;

/** Counters outlive their period by this much (then the store drops them). */
export const RETAIN_MS = 24 * 3_600_000;

export interface Ledger {
  /** `namespace/name` of the ApiKey. */
  key: string;
  kind: PeriodKind;
  timeZone: string;
  budget?: Budget;
  period: Period;
  spend: string;
  requests: string;
  input: string;
  output: string;
}

// Periods change once a day at most; working one out takes several Intl calls, so keep the
// current one per kind and zone and reuse it while `now` is inside it.
const current = new Map<string, Period>();

export function currentPeriod(kind: PeriodKind, timeZone: string, now: number): Period {
  const k = `${kind}|${timeZone}`;
  const p = current.get(k);
  if (p && now >= p.start && now < p.end) return p;
  const fresh = periodAt(kind, now, timeZone);
  if (current.size >= 256) current.clear();
  current.set(k, fresh);
  return fresh;
}

export function ledgerOf(key: { name: string; budget?: Budget }, now: number): Ledger {
  const kind = key.budget?.period ?? 'month';
  const timeZone = key.budget?.timezone || 'UTC';
  const period = currentPeriod(kind, timeZone, now);
  const base = `usage:${key.name}:${period.id}`;
  return {
    key: key.name,
    kind,
    timeZone,
    budget: key.budget,
    period,
    spend: `${base}.usd`,
    requests: `${base}.req`,
    input: `${base}.in`,
    output: `${base}.out`,
  };
}

/** How long the store keeps a ledger's counters from `now`: past the period's end by RETAIN_MS. */
export function retainMs(l: Ledger, now: number): number {
  return Math.max(1000, l.period.end - now + RETAIN_MS);
}

const ADJECTIVE: Record<PeriodKind, string> = { day: 'daily', week: 'weekly', month: 'monthly' };

export const periodAdjective = (kind: PeriodKind): string => ADJECTIVE[kind];

/**
 * Dollars for people: cents from $1 up (`$10.02`), three significant digits below, so a $0.01
 * budget reads `$0.0102 of its $0.01`, not `$0.01 of its $0.01`.
 */
export function usd(n: number): string {
  if (!Number.isFinite(n)) return '$?';
  const abs = Math.abs(n);
  if (abs >= 1 || abs === 0) return `${n < 0 ? '-' : ''}$${abs.toFixed(2)}`;
  const decimals = Math.min(8, Math.max(2, 2 - Math.floor(Math.log10(abs))));
  let s = abs.toFixed(decimals);
  while (s.endsWith('0') && s.length - s.indexOf('.') - 1 > 2) s = s.slice(0, -1);
  return `${n < 0 ? '-' : ''}$${s}`;
}

/**
 * RFC 3339 in the budget's own zone, so a reset reads as the local midnight it is:
 * `2026-11-01T00:00:00+01:00` in Paris, `2026-12-01T00:00:00Z` in UTC.
 */
export function zonedRfc3339(instant: number, timeZone: string): string {
  const w = wallClock(instant, timeZone);
  const pad = (n: number, l = 2) => String(n).padStart(l, '0');
  const offsetMin = Math.round((Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second) - Math.floor(instant / 1000) * 1000) / 60_000);
  const sign = offsetMin < 0 ? '-' : '+';
  const off = offsetMin === 0 ? 'Z' : `${sign}${pad(Math.floor(Math.abs(offsetMin) / 60))}:${pad(Math.abs(offsetMin) % 60)}`;
  return `${pad(w.year, 4)}-${pad(w.month)}-${pad(w.day)}T${pad(w.hour)}:${pad(w.minute)}:${pad(w.second)}${off}`;
}

/**
 * The 403 message for a key whose spend reached its budget. `spentMicros` and `capacityMicros`
 * are what the store enforced: with the local store, this pod's spend against its share.
 */
export function exhaustedMessage(l: Ledger, spentMicros: number, capacityMicros: number, divisor: number): string {
  const budget = l.budget!.usd;
  const what = `${usd(budget)} ${periodAdjective(l.kind)} budget`;
  const resets = `resets at ${zonedRfc3339(l.period.end, l.timeZone)}`;
  const spent = usd(spentMicros / MICROS);
  if (divisor > 1)
    return `budget exhausted: ApiKey ${l.key} spent ${spent} on this gateway, its share (${usd(capacityMicros / MICROS)}) of the ${what} divided over ${divisor} gateways; ${resets}`;
  return `budget exhausted: ApiKey ${l.key} spent ${spent} of its ${what}; ${resets}`;
}

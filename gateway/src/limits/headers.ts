import { fullInMs } from './bucket';
import type { CheckState } from './store';

export type Category = 'requests' | 'input-tokens' | 'output-tokens';

export interface Reading {
  category: Category;
  state: CheckState;
}

/**
 * Anthropic's rate-limit headers for the tightest applicable limit of each kind (the key's or the
 * route's, whichever has less left): `anthropic-ratelimit-{requests,input-tokens,output-tokens}-
 * {limit,remaining,reset}`, plus `anthropic-ratelimit-tokens-*` for the tighter of the two token
 * limits. limit and remaining are integers; reset is the RFC 3339 time at which the bucket is
 * full again, rounded up to the second.
 */
export function rateLimitHeaders(readings: Reading[], now: number): Record<string, string> {
  const tightest = new Map<Category, CheckState>();
  for (const r of readings) {
    const cur = tightest.get(r.category);
    if (!cur || tighter(r.state, cur)) tightest.set(r.category, r.state);
  }
  const out: Record<string, string> = {};
  for (const [category, s] of tightest) write(out, category, s, now);
  const input = tightest.get('input-tokens');
  const output = tightest.get('output-tokens');
  const tokens = input && output ? (tighter(output, input) ? output : input) : (input ?? output);
  if (tokens) write(out, 'tokens', tokens, now);
  return out;
}

const left = (s: CheckState) => s.capacity - s.used;

function tighter(a: CheckState, b: CheckState): boolean {
  return left(a) < left(b) || (left(a) === left(b) && a.capacity < b.capacity);
}

const NAMES = new Map(
  ['requests', 'input-tokens', 'output-tokens', 'tokens'].map((n) => [n, ['limit', 'remaining', 'reset'].map((f) => `anthropic-ratelimit-${n}-${f}`)]),
);

function write(out: Record<string, string>, name: string, s: CheckState, now: number): void {
  const [limit, remaining, reset] = NAMES.get(name)!;
  // A share below 1 (a limit of 1 over 3 local gateways) still admits one request: show 1, not 0.
  out[limit] = String(s.capacity > 0 ? Math.max(1, Math.floor(s.capacity)) : 0);
  out[remaining] = String(Math.max(0, Math.floor(left(s) + 1e-9)));
  const full = fullInMs(s.used, s.perMs);
  if (Number.isFinite(full)) out[reset] = rfc3339(now + full);
}

// Formatting dates is most of the cost of these headers, and resets fall on few distinct seconds.
const formatted = new Map<number, string>();

/** `2026-03-23T10:00:05Z`: whole seconds, rounded up so the bucket is surely full by then. */
export function rfc3339(ms: number): string {
  const sec = Math.ceil(ms / 1000);
  let s = formatted.get(sec);
  if (s === undefined) {
    if (formatted.size >= 256) formatted.clear();
    s = new Date(sec * 1000).toISOString().replace('.000Z', 'Z');
    formatted.set(sec, s);
  }
  return s;
}

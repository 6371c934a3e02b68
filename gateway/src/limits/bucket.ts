/**
 * Token-bucket arithmetic shared by the local store (in TypeScript) and mirrored line for line by
 * the Redis store's Lua scripts (redis-scripts.ts).
 *
 * A bucket is stored as what has been *used*, not what is left: `used` drains continuously at
 * `perMs` towards 0, and a request fits while `used + cost <= capacity`. Keeping "used" rather
 * than "left" means a new capacity (a changed limit, a different number of gateways) applies to
 * the consumption already recorded, without resetting anything; and a bucket that never drains
 * (perMs 0) is a plain counter over a period — the shape a spend budget takes.
 *
 * `used` may exceed `capacity`: real usage is debited after the fact (output tokens, an input
 * estimate that was too low), and the bucket then stays in debt until it has drained.
 */

/** Float slack so that drained amounts like 59.999999999 + 1 still fit a capacity of 60. */
export const EPSILON = 1e-9;

/** `used` after `elapsedMs` of continuous refill at `perMs`. */
export function drain(used: number, elapsedMs: number, perMs: number): number {
  if (elapsedMs <= 0 || used <= 0) return Math.max(0, used);
  return Math.max(0, used - elapsedMs * perMs);
}

/**
 * What a request must find free. A request larger than the whole bucket (an estimate above the
 * per-minute limit, or a fractional capacity after dividing by the gateways) needs a full bucket
 * rather than never passing, then leaves the bucket in debt for the excess.
 */
export function need(cost: number, capacity: number): number {
  return Math.min(cost, capacity);
}

/**
 * Whether a request of `cost` fits. Cost 0 (the output-token check, whose cost is only known
 * later) fits while the bucket is not used up. Capacity 0 never fits: a limit of 0 refuses all.
 */
export function fits(used: number, cost: number, capacity: number): boolean {
  if (capacity <= 0) return false;
  const n = need(cost, capacity);
  return n <= 0 ? used < capacity : used + n <= capacity + EPSILON;
}

/** Milliseconds until a request of `cost` would fit; 0 if it fits now, Infinity if it never will. */
export function waitMs(used: number, cost: number, capacity: number, perMs: number): number {
  if (fits(used, cost, capacity)) return 0;
  if (capacity <= 0 || perMs <= 0) return Infinity;
  const n = need(cost, capacity);
  // For cost 0 the bucket must drain just below capacity; one millisecond's refill is enough.
  const target = n <= 0 ? capacity - perMs : capacity - n;
  return Math.max(1, (used - target) / perMs);
}

/** Milliseconds until the bucket is fully replenished (used back to 0): the `-reset` header. */
export function fullInMs(used: number, perMs: number): number {
  if (used <= 0) return 0;
  return perMs > 0 ? used / perMs : Infinity;
}

/** Refill rate of a per-minute limit. */
export const perMinute = (limit: number): number => limit / 60_000;

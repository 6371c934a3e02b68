/**
 * Where limit state lives. The Limiter (limiter.ts) decides which checks a request needs and what
 * they cost; a LimitStore only does the counting, so the same Limiter runs on the in-memory store
 * (local-store.ts) and on Redis (redis-store.ts).
 *
 * Two kinds of check cover everything:
 * - `rate`: a token bucket (bucket.ts). Per-minute limits drain at capacity/60 s. A spend budget
 *   is the same bucket with `perMs: 0`, an id that names the calendar period
 *   (`usage:team-a/key:2026-03.usd`), its capacity in micro-dollars and `ttlMs` until some time
 *   after the period ends: admit with cost 0 (fits while not spent), then debit the price of the
 *   real usage in `settle` (see budget/ledger.ts). A key's request and token counts per period
 *   are more such buckets, only ever debited.
 * - `slots`: a concurrency limit, in-flight requests held by `holder` until released.
 *
 * `read` gives back what buckets have used (the operator's spend read-out goes through it).
 */

export interface RateCheck {
  kind: 'rate';
  /** Stable identity of the bucket, e.g. `key:team-a/alpha:rpm`. Never contains a secret. */
  id: string;
  /** Configured (fleet-wide) capacity; a local store divides it by `gateways`. */
  capacity: number;
  /** Configured refill per millisecond; divided like capacity. 0 = never refills. */
  perMs: number;
  /** Taken at admission if every check fits. */
  cost: number;
  /** Keep the state this long (buckets that never drain need it); 0 = until drained. */
  ttlMs?: number;
}

export interface SlotCheck {
  kind: 'slots';
  id: string;
  /** Configured (fleet-wide) maximum in flight; a local store divides it by `gateways`. */
  max: number;
}

export type Check = RateCheck | SlotCheck;

export interface AdmitRequest {
  checks: Check[];
  /** Who holds the slots taken (the request id); the same value releases them. */
  holder: string;
  /** Gateway pods sharing the configured limits (snapshot `gateways`); only local stores divide. */
  gateways: number;
}

/** One check as the store saw it, in the store's own (possibly divided) units. */
export interface CheckState {
  ok: boolean;
  /** Bucket: used after this admission (or now, if refused). Slots: in flight likewise. */
  used: number;
  /** Effective capacity (bucket) or maximum (slots) this store enforced. */
  capacity: number;
  /** Effective refill per ms (0 for slots). */
  perMs: number;
  /** What the configured value was divided by (1 for a global store). */
  divisor: number;
}

export interface AdmitResult {
  /** True only if every check fitted; then every cost and slot was taken, atomically. */
  admitted: boolean;
  /** In the order of the request's checks. */
  states: CheckState[];
  /** The store that took the admission: settlements go back to it (a failover store may switch). */
  store: LimitStore;
}

export interface Debit {
  id: string;
  /** Configured refill per ms (as in the check), so the store can drain before adding. */
  perMs: number;
  /** Added to `used`; negative refunds (never below 0). */
  amount: number;
  ttlMs?: number;
}

/** Takes the debits of one settlement as they are worked out. */
export interface DebitSink {
  add(id: string, perMs: number, amount: number, ttlMs?: number): void;
}

/** A settlement applied part by part as it is worked out, by a store that need not keep it (see LimitStore.settler). */
export interface Settler extends DebitSink {
  release(slots: string[]): void;
}

export interface Settlement {
  holder: string;
  gateways: number;
  debits: Debit[];
  /** Slot ids whose slot `holder` gives back. */
  release: string[];
}

/**
 * A bucket to read: its id and the refill to apply since its last update (0 for the period
 * counters of budgets, the only buckets read today; a local store drains per-minute buckets at
 * their divided rate, which a reader would have to pass).
 */
export interface BucketRef {
  id: string;
  perMs: number;
}

export interface LimitStore {
  /**
   * Where the counts live: `global` (Redis: every pod sees the fleet's counts) or `pod` (this
   * process only: each pod counts what it served, and the fleet's total is the sum over pods).
   */
  readonly scope: 'global' | 'pod';
  /** Checks every bucket and slot and takes them all or none. One round trip for a remote store. */
  admit(req: AdmitRequest): Promise<AdmitResult>;
  /** Usage debits and slot releases after the fact: fire and forget, batched by remote stores. */
  settle(s: Settlement): void;
  /**
   * `settle` without the Settlement: offered by a store that applies each part at once (the local
   * one), so a request builds no Settlement, array or Debit per bucket. A store that queues
   * settlements (Redis, failover) has none and gets `settle`. Valid until the caller returns.
   */
  settler?(gateways: number): Settler;
  /**
   * What each bucket has used now (after refill; 0 if it has none), in the order asked, in the
   * configured (undivided) units debits are made in. One round trip for a remote store; throws
   * StoreUnavailable when the store cannot answer.
   */
  read(buckets: BucketRef[]): Promise<number[]>;
  close(): Promise<void>;
}

/** The store cannot answer (Redis down) and the failure policy says to refuse. */
export class StoreUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreUnavailable';
  }
}

import { drain, fits } from './bucket';
import type { AdmitRequest, AdmitResult, BucketRef, CheckState, LimitStore, RateCheck, Settlement, Settler, SlotCheck } from './store';

interface Bucket {
  used: number;
  /** Clock time `used` was last brought up to date. */
  at: number;
  /** Drop the state after this time even if not drained (buckets with ttlMs). */
  expiresAt?: number;
}

/**
 * In-memory limits for one gateway process. Each pod counts alone, so every configured limit is
 * divided by the number of gateway pods the snapshot was pushed to: the fleet as a whole holds
 * the configured limit when traffic is spread evenly. Synchronous underneath; the Promise is only
 * for the LimitStore contract.
 */
export class LocalStore implements LimitStore {
  readonly scope = 'pod';
  private readonly buckets = new Map<string, Bucket>();
  private readonly slots = new Map<string, number>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly now: () => number = Date.now,
    sweepMs = 60_000,
  ) {
    // State is bounded by the configuration (keys × limits), not traffic; the sweep only drops
    // drained buckets so removed keys and past periods do not linger.
    this.sweeper = setInterval(() => this.sweep(), sweepMs);
    this.sweeper.unref();
  }

  admit(req: AdmitRequest): Promise<AdmitResult> {
    return Promise.resolve(this.admitNow(req));
  }

  admitNow(req: AdmitRequest): AdmitResult {
    const now = this.now();
    const g = divisorOf(req.gateways);
    const states: CheckState[] = req.checks.map((c) => (c.kind === 'rate' ? this.peekRate(c, g, now) : this.peekSlots(c, g)));
    const admitted = states.every((s) => s.ok);
    if (admitted) {
      req.checks.forEach((c, i) => {
        const s = states[i];
        if (c.kind === 'rate') {
          s.used += c.cost;
          const expiresAt = c.ttlMs ? now + c.ttlMs : undefined;
          const b = this.buckets.get(c.id);
          if (b) {
            b.used = s.used;
            b.at = now;
            b.expiresAt = expiresAt;
          } else this.buckets.set(c.id, { used: s.used, at: now, expiresAt });
        } else {
          s.used += 1;
          this.slots.set(c.id, s.used);
        }
      });
    }
    return { admitted, states, store: this };
  }

  settle(s: Settlement): void {
    const now = this.now();
    const g = divisorOf(s.gateways);
    for (const d of s.debits) this.debitAt(d.id, d.perMs / g, d.amount, d.ttlMs, now);
    for (const id of s.release) this.releaseSlot(id);
  }

  /**
   * A settlement's parts applied one at a time, by a caller that would otherwise build a
   * Settlement (an object, an array and a Debit per bucket) per request for `settle` to read once.
   */
  settler(gateways: number): Settler {
    const s = this.settling;
    s.now = this.now();
    s.divisor = divisorOf(gateways);
    return s;
  }

  private readonly settling = new LocalSettler(this);

  /** `settle` of one debit; `perMs` already divided. */
  debitAt(id: string, perMs: number, amount: number, ttlMs: number | undefined, now: number): void {
    const used = Math.max(0, this.current(id, perMs, now) + amount);
    const prev = this.buckets.get(id);
    // Updated in place: a settle per request would otherwise make a bucket object per debit.
    if (prev) {
      prev.used = used;
      prev.at = now;
      if (ttlMs) prev.expiresAt = now + ttlMs;
    } else this.buckets.set(id, { used, at: now, expiresAt: ttlMs ? now + ttlMs : undefined });
  }

  releaseSlot(id: string): void {
    const n = (this.slots.get(id) ?? 0) - 1;
    if (n > 0) this.slots.set(id, n);
    else this.slots.delete(id);
  }

  read(buckets: BucketRef[]): Promise<number[]> {
    // `used` is kept undivided (only capacities and refill are divided): what this pod consumed.
    const now = this.now();
    return Promise.resolve(buckets.map((b) => this.current(b.id, b.perMs, now)));
  }

  /** In-flight count of a slot check (tests and diagnostics). */
  inFlight(id: string): number {
    return this.slots.get(id) ?? 0;
  }

  /** Current `used` of a bucket after refill (tests and diagnostics). */
  used(id: string, perMs: number): number {
    return this.current(id, perMs, this.now());
  }

  sweep(): void {
    const now = this.now();
    for (const [id, b] of this.buckets) {
      if (b.expiresAt !== undefined ? now >= b.expiresAt : b.used <= 0) this.buckets.delete(id);
    }
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
  }

  private current(id: string, perMs: number, now: number): number {
    const b = this.buckets.get(id);
    if (!b) return 0;
    if (b.expiresAt !== undefined && now >= b.expiresAt) return 0;
    return drain(b.used, now - b.at, perMs);
  }

  private peekRate(c: RateCheck, g: number, now: number): CheckState {
    const capacity = c.capacity / g;
    const perMs = c.perMs / g;
    const used = this.current(c.id, perMs, now);
    return { ok: fits(used, c.cost, capacity), used, capacity, perMs, divisor: g };
  }

  private peekSlots(c: SlotCheck, g: number): CheckState {
    const capacity = c.max / g;
    const used = this.slots.get(c.id) ?? 0;
    // A fractional share (max 1 over 3 gateways) still admits one: in-flight counts are whole.
    return { ok: capacity > 0 && used < capacity, used, capacity, perMs: 0, divisor: g };
  }
}

/** What `LocalStore.settler` hands out: one per store, valid until the caller returns. */
class LocalSettler implements Settler {
  now = 0;
  divisor = 1;
  constructor(private readonly store: LocalStore) {}

  add(id: string, perMs: number, amount: number, ttlMs?: number): void {
    this.store.debitAt(id, perMs / this.divisor, amount, ttlMs, this.now);
  }

  release(ids: string[]): void {
    for (const id of ids) this.store.releaseSlot(id);
  }
}

function divisorOf(gateways: number | undefined): number {
  return gateways && gateways > 1 ? gateways : 1;
}

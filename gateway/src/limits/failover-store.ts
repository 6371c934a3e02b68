import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Logger } from '../log';
import type { LocalStore } from './local-store';
import type { RedisStore } from './redis-store';
import { StoreUnavailable, type AdmitRequest, type AdmitResult, type BucketRef, type LimitStore, type Settlement } from './store';

/**
 * What to do with a limited request while Redis cannot answer:
 * - `open` (default): check it against this pod's local store instead (limits divided by the
 *   number of gateways, as without Redis), so traffic keeps flowing with approximate limits;
 * - `closed`: refuse it with 503 `overloaded_error` and `retry-after: 1`, so no limit is ever
 *   exceeded but traffic stops. Requests without limits are unaffected either way.
 */
export type FailurePolicy = 'open' | 'closed';

export function parseFailurePolicy(v: string | undefined): FailurePolicy {
  const p = (v ?? '').trim().toLowerCase();
  if (p === '' || p === 'open') return 'open';
  if (p === 'closed') return 'closed';
  throw new Error(`SWITCHYARD_REDIS_FAILURE_POLICY must be 'open' or 'closed', not '${v}'`);
}

/**
 * Redis first, the failure policy when Redis is unusable. Admissions remember which store took
 * them (AdmitResult.store), so a request admitted by one store settles there even if the other
 * is in use by the time it ends. Redis recovery needs nothing from here: as soon as the client
 * reconnects, the next request goes to Redis again. What the local store counts meanwhile in
 * period counters (spend, usage) is also owed to Redis, which takes it when it is back: budgets
 * are global, and an outage must not hand out spend for free.
 */
export class FailoverStore implements LimitStore {
  readonly scope = 'global';
  private readonly fallbacks: Counter<'policy'>;
  private readonly degraded: Gauge;
  private readonly duration: Histogram<'operation'>;

  constructor(
    private readonly redis: RedisStore,
    private readonly local: LocalStore,
    private readonly policy: FailurePolicy,
    registry: Registry,
    log: Logger,
  ) {
    this.fallbacks = new Counter({
      name: 'switchyard_limit_store_fallback_total',
      help: 'Limited requests Redis could not check, handled by the failure policy (open: local limits; closed: refused with 503).',
      labelNames: ['policy'],
      registers: [registry],
    });
    this.degraded = new Gauge({
      name: 'switchyard_limit_store_degraded',
      help: '1 while the Redis limit store is unreachable and the failure policy applies, else 0.',
      registers: [registry],
    });
    this.degraded.set(redis.up ? 0 : 1);
    this.duration = new Histogram({
      name: 'switchyard_limit_store_duration_seconds',
      help: 'Round trips to the Redis limit store by operation (admit: check and take a request; read: budgets and usage), failures and timeouts included.',
      labelNames: ['operation'],
      // Redis answers in well under a millisecond on a local network; the top buckets reach the
      // command timeout (SWITCHYARD_REDIS_TIMEOUT_MS, 500 ms by default).
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers: [registry],
    });
    // One log line and one gauge change per transition, never one per request.
    redis.onHealth = (up, reason) => {
      this.degraded.set(up ? 0 : 1);
      if (up) log.info('redis limit store available: limits are global and exact', { reason });
      else
        log.warn(
          `redis limit store unavailable: ${policy === 'open' ? 'falling back to local limits (divided by the number of gateways)' : 'refusing limited requests with 503'}`,
          { reason, policy },
        );
    };
  }

  async admit(req: AdmitRequest): Promise<AdmitResult> {
    if (this.redis.usable) {
      try {
        const end = this.duration.startTimer({ operation: 'admit' });
        try {
          return await this.redis.admit(req);
        } finally {
          end();
        }
      } catch {
        // The RedisStore has marked itself down (and said so once); apply the policy.
      }
    }
    this.fallbacks.inc({ policy: this.policy });
    if (this.policy === 'closed') throw new StoreUnavailable('rate limit store unavailable');
    return { ...(await this.local.admit(req)), store: this.localOwing };
  }

  settle(s: Settlement): void {
    // Admitted requests settle with AdmitResult.store. What comes here was never admitted (the
    // usage counters of a key without limits or budget): Redis when usable, else this pod and
    // owed to Redis, like admissions under the `open` policy.
    if (this.redis.usable) this.redis.settle(s);
    else this.localOwing.settle(s);
  }

  /** The local store as requests it admitted settle on it: counted here, and owed to Redis. */
  private readonly localOwing: LimitStore = {
    scope: 'pod',
    admit: (req) => this.local.admit(req),
    settle: (s) => {
      this.local.settle(s);
      this.redis.owe(s.debits);
    },
    read: (buckets) => this.local.read(buckets),
    close: async () => undefined,
  };

  /** Counts are global only in Redis: while it is away there is nothing global to read. */
  read(buckets: BucketRef[]): Promise<number[]> {
    if (!this.redis.usable) return Promise.reject(new StoreUnavailable('rate limit store unavailable'));
    const end = this.duration.startTimer({ operation: 'read' });
    return this.redis.read(buckets).finally(() => end());
  }

  async close(): Promise<void> {
    await Promise.all([this.redis.close(), this.local.close()]);
  }
}

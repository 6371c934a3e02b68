import { Gauge } from 'prom-client';
import type { Gateway } from '../gateway';
import { FailoverStore, parseFailurePolicy } from './failover-store';
import { StoreLimiter } from './limiter';
import { LocalStore } from './local-store';
import { RedisStore } from './redis-store';
import type { SpendAccounts } from './spend';
import type { LimitStore } from './store';

/**
 * Puts rate limits on a gateway from the environment:
 * - SWITCHYARD_REDIS_URL (redis://[:password@]host:port[/db], rediss:// for TLS): exact, global
 *   limits in Redis; without it, the local in-memory store.
 * - SWITCHYARD_REDIS_FAILURE_POLICY: `open` (default) or `closed`, see failover-store.ts.
 * - SWITCHYARD_REDIS_PREFIX: key prefix (default `switchyard:`), to share one Redis between fleets.
 * - SWITCHYARD_REDIS_TIMEOUT_MS: longest wait for one Redis command (default 500).
 * The URL may carry a password, so it is never logged.
 * `accounts` (budget/account.ts) adds spend budgets and usage ledgers to the same limiter.
 */
export async function installLimits(gateway: Gateway, env: NodeJS.ProcessEnv, accounts?: SpendAccounts): Promise<LimitStore> {
  const local = new LocalStore(gateway.deps.now);
  let store: LimitStore = local;
  const url = env.SWITCHYARD_REDIS_URL?.trim();
  if (url) {
    const policy = parseFailurePolicy(env.SWITCHYARD_REDIS_FAILURE_POLICY);
    const timeoutMs = positive(env.SWITCHYARD_REDIS_TIMEOUT_MS, 'SWITCHYARD_REDIS_TIMEOUT_MS') ?? 500;
    const redis = new RedisStore({ url, prefix: env.SWITCHYARD_REDIS_PREFIX || undefined, timeoutMs });
    store = new FailoverStore(redis, local, policy, gateway.registry, gateway.log);
    // Give the first connection a moment so the first requests are counted globally; if Redis
    // is not there yet the gateway starts anyway, on the failure policy, and switches when it comes.
    await redis.settled(3000);
  }
  // Which store holds limits and budgets, so dashboards know how to add up the pods' figures:
  // with `redis` every pod reports the fleet's budget left, with `local` each pod its own share.
  new Gauge({
    name: 'switchyard_limit_store_info',
    help: 'The limit store of this gateway (value 1): store="redis" (global counts, shared by all pods) or store="local" (per pod).',
    labelNames: ['store'],
    registers: [gateway.registry],
  }).set({ store: url ? 'redis' : 'local' }, 1);
  gateway.setLimiter(new StoreLimiter(store, gateway.deps.now, accounts));
  gateway.onClose(() => store.close());
  let divisor = 1;
  gateway.onApply((s) => {
    const g = s.gateways && s.gateways > 1 ? s.gateways : 1;
    if (g !== divisor)
      gateway.log.info(`local rate limits are divided by ${g} gateways${url ? ' (used only while Redis is unavailable)' : ''}`, { gateways: g });
    divisor = g;
  });
  return store;
}

function positive(v: string | undefined, name: string): number | undefined {
  if (v === undefined || v.trim() === '') return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number of milliseconds, not '${v}'`);
  return n;
}

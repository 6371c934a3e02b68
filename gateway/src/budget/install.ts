import { GatewayError } from '../core/errors';
import type { Gateway } from '../gateway';
import { StoreUnavailable, type LimitStore } from '../limits/store';
import type { SwitchyardMetrics } from '../telemetry/metrics';
import { readUsage } from './usage';

/**
 * Spend budgets' read-out, on top of the limit store the limiter already counts spend in
 * (budgets are enforced through account.ts, in the limiter's admission with the rate limits):
 *  - `GET /admin/usage` (admin token): every configured key's period, spend, requests and
 *    tokens, and whether the store's counts are global (Redis) or this pod's; the operator
 *    polls it to write `ApiKey.status.usage`; its `shadows` section (the shadows' counts on
 *    this pod since they last changed) is what it writes to `ModelRoute.status.shadows`;
 *  - `switchyard_budget_remaining_usd{api_key}`, read from the store at scrape time.
 */
export function installBudgets(gateway: Gateway, store: LimitStore, metrics?: SwitchyardMetrics): void {
  const read = () => readUsage(gateway.table, store, gateway.deps.now());
  gateway.extendAdmin((router, requireToken) => {
    router.get('/admin/usage', requireToken, async (ctx) => {
      try {
        ctx.body = { ...(await read()), shadows: gateway.shadows.stats.report(gateway.table) };
      } catch (err) {
        if (err instanceof StoreUnavailable) throw new GatewayError(503, 'overloaded_error', `usage cannot be read: ${err.message}`, { 'retry-after': '1' });
        throw err;
      }
    });
  });
  metrics?.watchBudgets(async () =>
    (await read()).keys.flatMap((k) =>
      k.remainingUSD === null || k.enforcedUSD === null ? [] : [{ apiKey: k.name, remainingUSD: k.remainingUSD, budgetUSD: k.enforcedUSD }],
    ),
  );
}

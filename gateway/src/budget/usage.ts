import type { LimitStore } from '../limits/store';
import type { RoutingTable } from '../core/routes';
import { MICROS, ledgerOf, zonedRfc3339 } from './ledger';

/** One ApiKey's consumption in its current period, as `GET /admin/usage` reports it. */
export interface KeyUsage {
  /** `namespace/name` of the ApiKey. */
  name: string;
  /** Period id: `2026-03` (month), `2026-W12` (ISO week), `2026-03-23` (day). */
  period: string;
  periodKind: 'day' | 'week' | 'month';
  timezone: string;
  /** Start and end (= reset) of the period, RFC 3339 in the period's zone. */
  periodStart: string;
  resetsAt: string;
  /** The configured budget, or null for a key without one (counted per UTC month). */
  budgetUSD: number | null;
  /** What this gateway enforces: the budget, or with a per-pod store its share (budget ÷ gateways). */
  enforcedUSD: number | null;
  /** Spend in the period: the fleet's with a global store, this pod's with a per-pod store. */
  spentUSD: number;
  /** enforcedUSD − spentUSD, never below 0; null without a budget. */
  remainingUSD: number | null;
  requests: number;
  /** Input tokens of every kind: uncached, cache reads and cache writes. */
  inputTokens: number;
  outputTokens: number;
}

export interface UsageReport {
  /** `global`: the counts are the fleet's (Redis); `pod`: this pod's only, sum them over pods. */
  store: 'global' | 'pod';
  /** The divisor of a per-pod store (snapshot `gateways`). */
  gateways: number;
  /** The configuration version the keys come from. */
  version: string | null;
  /** The gateway's clock when read. */
  time: string;
  keys: KeyUsage[];
}

/** Rounded to the micro-dollar the ledger counts in, without float noise (0.30000000000000004). */
const dollars = (micros: number) => Math.round(micros) / MICROS;

/** Reads every configured key's counters for its current period in one store call. */
export async function readUsage(table: RoutingTable | undefined, store: LimitStore, now: number): Promise<UsageReport> {
  const keys = table ? [...table.keys].sort((a, b) => a.name.localeCompare(b.name)) : [];
  const gateways = store.scope === 'pod' && table?.snapshot.gateways && table.snapshot.gateways > 1 ? table.snapshot.gateways : 1;
  const ledgers = keys.map((k) => ledgerOf(k, now));
  const values = await store.read(ledgers.flatMap((l) => [l.spend, l.requests, l.input, l.output].map((id) => ({ id, perMs: 0 }))));
  return {
    store: store.scope,
    gateways,
    version: table?.version ?? null,
    time: new Date(now).toISOString(),
    keys: ledgers.map((l, i) => {
      const [spend, requests, input, output] = values.slice(4 * i, 4 * i + 4);
      const budget = l.budget?.usd ?? null;
      const enforced = budget === null ? null : budget / gateways;
      const spentUSD = dollars(spend);
      return {
        name: l.key,
        period: l.period.id,
        periodKind: l.kind,
        timezone: l.timeZone,
        periodStart: zonedRfc3339(l.period.start, l.timeZone),
        resetsAt: zonedRfc3339(l.period.end, l.timeZone),
        budgetUSD: budget,
        enforcedUSD: enforced,
        spentUSD,
        remainingUSD: enforced === null ? null : Math.max(0, dollars(enforced * MICROS - spend)),
        requests: Math.round(requests),
        inputTokens: Math.round(input),
        outputTokens: Math.round(output),
      };
    }),
  };
}

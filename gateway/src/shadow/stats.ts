import type { Route, RoutingTable, Shadow } from '../core/routes';
import type { Usage } from '../core/call';

/** One shadow's counts on this gateway pod since its settings last changed (its revision). */
export interface ShadowCounts {
  /** Requests the sampler picked: completed + failed + skipped + inflight. */
  sampled: number;
  /** The shadow answered (2xx and, for a stream, a clean `message_stop`). */
  completed: number;
  /** Error replies, transport failures, timeouts and shadows cut by a shutdown. */
  failed: number;
  /** Picked but not sent: over maxConcurrent, or the gateway was draining. */
  skipped: number;
  inflight: number;
  inputTokens: number;
  outputTokens: number;
  costUSD: number;
}

/** What `GET /admin/usage` reports per shadow (its `shadows` section), and the operator sums over pods. */
export interface ShadowUsage extends ShadowCounts {
  /** `namespace/name` of the ModelRoute. */
  route: string;
  name: string;
  revision: string;
  provider: string;
  model: string;
  /** When this pod started counting this revision. */
  since: string;
}

const zero = (): ShadowCounts => ({ sampled: 0, completed: 0, failed: 0, skipped: 0, inflight: 0, inputTokens: 0, outputTokens: 0, costUSD: 0 });

/**
 * Counts per route, shadow and revision. Counting by revision makes "since the last change"
 * exact: a run of the previous revision that finishes after a change lands in its own (dropped)
 * entry, not in the new counts.
 */
export class ShadowStats {
  private readonly entries = new Map<string, { counts: ShadowCounts; since: Date }>();

  constructor(private readonly now: () => number) {}

  of(route: Route, shadow: Shadow): ShadowCounts {
    const id = `${route.name}\n${shadow.name}\n${shadow.revision}`;
    let e = this.entries.get(id);
    if (!e) this.entries.set(id, (e = { counts: zero(), since: new Date(this.now()) }));
    return e.counts;
  }

  /** Every shadow of the table, zeros for those with nothing counted yet; entries of other revisions are dropped. */
  report(table: RoutingTable | undefined): ShadowUsage[] {
    const out: ShadowUsage[] = [];
    const live = new Set<string>();
    for (const { route } of table?.models ?? []) {
      for (const shadow of route.shadows ?? []) {
        const id = `${route.name}\n${shadow.name}\n${shadow.revision}`;
        if (live.has(id)) continue; // a route appears once per model name and alias
        live.add(id);
        const e = this.entries.get(id);
        out.push({
          route: route.name,
          name: shadow.name,
          revision: shadow.revision,
          provider: shadow.target.provider,
          model: shadow.target.model,
          since: (e?.since ?? new Date(this.now())).toISOString(),
          ...(e ? { ...e.counts, costUSD: Math.round(e.counts.costUSD * 1e6) / 1e6 } : zero()),
        });
      }
    }
    // Runs still in flight keep their entry until they end; nothing else of older revisions is reported again.
    for (const [id, e] of this.entries) if (!live.has(id) && e.counts.inflight === 0) this.entries.delete(id);
    return out;
  }
}

export function addUsage(c: ShadowCounts, usage: Usage, costUSD: number): void {
  c.inputTokens += usage.input_tokens + usage.cache_read_input_tokens + usage.cache_creation_input_tokens;
  c.outputTokens += usage.output_tokens;
  c.costUSD += costUSD;
}

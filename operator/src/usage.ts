import type { KeyUsage, UsageReport } from '../../gateway/src/budget/usage';
import type { ShadowUsage } from '../../gateway/src/shadow/stats';
import type { Logger } from '../../gateway/src/log';

/** One ApiKey's consumption in its current period across the fleet. */
export interface FleetUsage {
  period: string;
  resetsAt: string;
  spentUSD: number;
  requests: number;
  inputTokens: number;
  outputTokens: number;
  /** `global`: one gateway's read of the shared store; `pod`: the sum of the pods' own counts. */
  store: 'global' | 'pod';
  /** Reports it is made of. */
  pods: number;
}

/**
 * The fleet's usage per key from the pods' `GET /admin/usage` reports. With a global store (Redis)
 * every pod reads the same counters: the newest read is the answer. With per-pod stores each pod
 * counts what it served: the fleet's figure is the sum over pods, for the period the newest
 * report names (a pod still on the previous period at a boundary is left out).
 */
export function aggregateUsage(reports: UsageReport[]): Map<string, FleetUsage> {
  const global = reports.filter((r) => r.store === 'global');
  const used = global.length ? global : reports;
  const store = global.length ? 'global' : 'pod';
  // Newest first, so the first report naming a key sets its period.
  const ordered = [...used].sort((a, b) => Date.parse(b.time) - Date.parse(a.time));
  const out = new Map<string, FleetUsage>();
  for (const r of ordered) {
    for (const k of r.keys) {
      const cur = out.get(k.name);
      if (!cur) out.set(k.name, fromKey(k, store));
      else if (store === 'pod' && cur.period === k.period) add(cur, k);
    }
  }
  for (const u of out.values()) u.spentUSD = Math.round(u.spentUSD * 1e6) / 1e6;
  return out;
}

/** A shadow's counts over the fleet: what `ModelRoute.status.shadows` shows. */
export interface FleetShadowCounts {
  sampled: number;
  completed: number;
  failed: number;
  skipped: number;
}

export const shadowId = (route: string, name: string, revision: string) => `${route}\n${name}\n${revision}`;

/**
 * Shadows are counted in each pod's memory, so the fleet's figure is always the sum over pods, per
 * revision: a pod still running the previous settings adds to the previous revision's entry,
 * which the status (asking for the current one) does not read.
 */
export function aggregateShadows(reports: Array<UsageReport & { shadows?: ShadowUsage[] }>): Map<string, FleetShadowCounts> {
  const out = new Map<string, FleetShadowCounts>();
  for (const r of reports) {
    for (const s of r.shadows ?? []) {
      const id = shadowId(s.route, s.name, s.revision);
      const cur = out.get(id) ?? { sampled: 0, completed: 0, failed: 0, skipped: 0 };
      cur.sampled += s.sampled;
      cur.completed += s.completed;
      cur.failed += s.failed;
      cur.skipped += s.skipped;
      out.set(id, cur);
    }
  }
  return out;
}

function fromKey(k: KeyUsage, store: 'global' | 'pod'): FleetUsage {
  return {
    period: k.period,
    resetsAt: k.resetsAt,
    spentUSD: k.spentUSD,
    requests: k.requests,
    inputTokens: k.inputTokens,
    outputTokens: k.outputTokens,
    store,
    pods: 1,
  };
}

function add(into: FleetUsage, k: KeyUsage): void {
  into.spentUSD += k.spentUSD;
  into.requests += k.requests;
  into.inputTokens += k.inputTokens;
  into.outputTokens += k.outputTokens;
  into.pods++;
}

export interface UsagePollerOptions {
  token: string;
  timeoutMs: number;
  /** How often every pod is asked. */
  intervalMs: number;
  /** Even without a change, nudge the reconciler this often (status.usage.updatedAt is refreshed at this cadence). */
  refreshMs: number;
  userAgent: string;
  log: Logger;
  /** The gateway pods to ask (the pusher's view). */
  pods(): PodRef[];
  /** The fleet's usage changed (or a refresh is due): write statuses. */
  onChange(): void;
}

interface PodRef {
  id: string;
  url: string;
  pod?: string;
  ready?: boolean;
}

interface PodReport {
  report: UsageReport;
  at: number;
}

/**
 * Reads `GET /admin/usage` from every gateway pod every `intervalMs` (only while this operator
 * leads) and keeps the fleet's usage per key. A pod that fails a round keeps its last report for
 * a few rounds, so one slow answer does not make a per-pod sum drop and come back.
 */
export class UsagePoller {
  private timer?: NodeJS.Timeout;
  private polling = false;
  private reports = new Map<string, PodReport>();
  private failures = new Map<string, string>();
  private usage = new Map<string, FleetUsage>();
  private shadows = new Map<string, FleetShadowCounts>();
  private lastJson = '';
  private lastNudge = 0;

  constructor(private readonly o: UsagePollerOptions) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.poll(), this.o.intervalMs);
    this.timer.unref();
    void this.poll();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The fleet's usage of an ApiKey (`namespace/name`), if any gateway reported it. */
  get(key: string): FleetUsage | undefined {
    return this.usage.get(key);
  }

  /** The fleet's counts of one shadow revision of a ModelRoute (`namespace/name`), if any gateway reported it. */
  shadow(route: string, name: string, revision: string): FleetShadowCounts | undefined {
    return this.shadows.get(shadowId(route, name, revision));
  }

  /** One round: every pod in parallel, then aggregate. */
  async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      const pods = this.o.pods();
      await Promise.all(pods.map((p) => this.ask(p)));
      const now = Date.now();
      const live = new Set(pods.map((p) => p.id));
      for (const [id, r] of this.reports) if (!live.has(id) || now - r.at > 3 * this.o.intervalMs + this.o.timeoutMs) this.reports.delete(id);
      for (const id of this.failures.keys()) if (!live.has(id)) this.failures.delete(id);
      if (!this.timer) return; // stopped meanwhile: leadership lost
      const reports = [...this.reports.values()].map((r) => r.report);
      const usage = aggregateUsage(reports);
      const shadows = aggregateShadows(reports);
      const json = JSON.stringify([[...usage].sort(([a], [b]) => a.localeCompare(b)), [...shadows].sort(([a], [b]) => a.localeCompare(b))]);
      if (json !== this.lastJson || now - this.lastNudge >= this.o.refreshMs) {
        this.usage = usage;
        this.shadows = shadows;
        this.lastJson = json;
        this.lastNudge = now;
        this.o.onChange();
      }
    } finally {
      this.polling = false;
    }
  }

  private async ask(p: PodRef): Promise<void> {
    let failure: string | undefined;
    try {
      const res = await fetch(`${p.url}/admin/usage`, {
        headers: { authorization: `Bearer ${this.o.token}`, 'user-agent': this.o.userAgent },
        signal: AbortSignal.timeout(this.o.timeoutMs),
      });
      const text = await res.text();
      if (res.ok) {
        const report = JSON.parse(text) as UsageReport;
        if (!Array.isArray(report?.keys)) throw new Error('not a usage report');
        this.reports.set(p.id, { report, at: Date.now() });
      } else {
        failure = `GET /admin/usage answered ${res.status}`;
      }
    } catch (err) {
      const e = err as { name?: string; message?: string; cause?: { code?: string } };
      failure = e?.name === 'TimeoutError' ? 'timed out' : (e?.cause?.code ?? e?.message ?? String(err));
    }
    if (failure !== this.failures.get(p.id)) {
      // Pods that are starting fail routinely; say so quietly.
      if (failure)
        (p.ready === false ? this.o.log.debug : this.o.log.warn)('usage not read from a gateway; keeping its last report for a while', {
          pod: p.pod,
          url: p.url,
          error: failure,
        });
      else if (this.failures.has(p.id)) this.o.log.info('usage read from the gateway again', { pod: p.pod, url: p.url });
      if (failure) this.failures.set(p.id, failure);
      else this.failures.delete(p.id);
    }
  }
}

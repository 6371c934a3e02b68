import { createHash } from 'node:crypto';
import type { ConfigSnapshot, ServiceAccountAuth } from '../../gateway/src/config/snapshot';
import { withServiceAccountAuth } from '../../gateway/src/config/service-account-auth';
import type { Logger } from '../../gateway/src/log';
import { compile, type ObjectResult } from '../../gateway/src/config/compile';
import type { Kind } from '../../gateway/src/config/crd-schema';
import { gatewayEndpoints, type GatewayEndpoint } from './endpoints';
import { rejectionEvent } from './events';
import type { PodView, Pusher } from './push';
import { Backoff } from './backoff';
import { budgetEvent, crossings, type BudgetSpec, type StatusUsage } from './budget';
import { acceptedCondition, desiredStatus, statusDiffers, type SyncView } from './status';
import { objectKey, type K8sObject } from '../../gateway/src/config/k8s-object';
import type { FleetUsage } from './usage';
import type { ShadowCountsOf } from './status';
import type { OperatorMetrics } from './metrics';

/** What the reconciler reads: the informers' caches. */
export interface Caches {
  /** Every cache has listed once; before that, a snapshot would miss objects and cut traffic. */
  synced(): boolean;
  routes(): K8sObject[];
  keys(): K8sObject[];
  secrets(): K8sObject[];
  slices(): any[];
}

/** What the reconciler writes to the API server. Errors carry the HTTP status in `code`. */
export interface StatusClient {
  patchStatus(kind: Kind, namespace: string, name: string, status: Record<string, unknown>): Promise<void>;
  createEvent(namespace: string, event: Record<string, unknown>): Promise<void>;
}

export interface ReconcilerOptions {
  caches: Caches;
  pusher: Pusher;
  client: StatusClient;
  log: Logger;
  /** `NS/NAME` of the gateway Service, for messages. */
  service: string;
  adminPortName: string;
  /** This operator's identity (reportingInstance of its Events). */
  identity: string;
  debounceMs: number;
  /** How long a reconcile waits for first push answers before writing status (saves a Pending→True flip). */
  pushWaitMs: number;
  /** The fleet's usage per ApiKey (`namespace/name`), read from the gateways; refreshMs: cadence of usage.updatedAt. */
  usage?: { get(key: string): FleetUsage | undefined; shadow?: ShadowCountsOf; refreshMs: number };
  metrics?: OperatorMetrics;
  /** The cluster's ServiceAccount issuer and keys, when known; they ride in every snapshot. */
  serviceAccountAuth?: () => ServiceAccountAuth | undefined;
  now?: () => Date;
}

const STATUS_CONCURRENCY = 8;

/**
 * The controller loop, level-triggered: any change schedules one debounced reconcile of the whole
 * desired state (never an action per event). A reconcile reads the caches, runs the same pure
 * compile() as standalone mode, pushes the snapshot to every gateway pod (the Pusher), then
 * writes each object's status where it changed. Only the elected leader runs it.
 */
export class Reconciler {
  private timer?: NodeJS.Timeout;
  private running = false;
  private dirty = false;
  private active = false;
  private desired?: ConfigSnapshot;
  private lastSerial = 0;
  private serialFloor = 0;
  /** Per snapshot version, a digest of each object's compiled entry: tells whether a pod's snapshot "contains" an object as it is now. */
  private entries = new Map<string, Map<string, string>>();
  /** Status last written per object, with the resourceVersion the cache had then: skips rewrites while the informer catches up. */
  private written = new Map<string, { rv?: string; json: string }>();
  /** The last rejection reported per object, so a lagging cache never repeats an Event. */
  private reported = new Map<string, string>();
  /** Budget thresholds already announced (`id|period|budget|threshold`), for the same reason. */
  private announced = new Set<string>();
  private statusBackoff = new Backoff(500, 30_000);
  private retryTimer?: NodeJS.Timeout;
  private readonly now: () => Date;

  constructor(private readonly o: ReconcilerOptions) {
    this.now = o.now ?? (() => new Date());
  }

  /** Became leader: reconcile now and from now on. */
  activate(): void {
    this.active = true;
    this.schedule(0);
  }

  deactivate(): void {
    this.active = false;
    clearTimeout(this.timer);
    clearTimeout(this.retryTimer);
    this.timer = undefined;
  }

  get isActive(): boolean {
    return this.active;
  }

  /** Debounced: a burst of events becomes one reconcile. */
  schedule(delayMs = this.o.debounceMs): void {
    if (!this.active || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.run();
    }, delayMs);
  }

  /** A gateway runs a snapshot with a newer serial than ours; stamp ours above it so pods accept it. */
  newerSerialSeen(serial: number): void {
    if (serial <= this.serialFloor) return;
    this.serialFloor = serial;
    if (this.desired && this.desired.serial <= serial) {
      const s = this.nextSerial();
      this.desired = { ...this.desired, serial: s, generatedAt: new Date(s).toISOString() };
      this.o.log.info("restamped the configuration above a gateway's newer serial", { version: this.desired.version, serial: s });
    }
    this.schedule();
  }

  private async run(): Promise<void> {
    if (this.running) {
      this.dirty = true;
      return;
    }
    this.running = true;
    try {
      if (await this.reconcile()) this.o.metrics?.reconciled(true);
    } catch (err) {
      this.o.metrics?.reconciled(false);
      this.o.log.error('reconcile failed', { error: (err as Error)?.message ?? String(err) });
      this.retryLater();
    } finally {
      this.running = false;
      if (this.dirty) {
        this.dirty = false;
        this.schedule();
      }
    }
  }

  /** False when there was nothing to do (not leading, caches not synced yet). */
  private async reconcile(): Promise<boolean> {
    if (!this.active || !this.o.caches.synced()) return false;
    const c = this.o.caches;
    const routes = c.routes();
    const keys = c.keys();
    this.o.log.debug('reconcile', { routes: routes.length, keys: keys.length });
    const endpoints = gatewayEndpoints(c.slices(), this.o.adminPortName);
    const ready = endpoints.filter((e) => e.ready);
    const compiled = compile({ routes, keys, secrets: c.secrets(), serial: this.candidateSerial(), gateways: Math.max(1, ready.length) });
    const { results } = compiled;
    const snapshot = withServiceAccountAuth(compiled.snapshot, this.o.serviceAccountAuth?.());

    if (this.desired?.version !== snapshot.version) {
      this.lastSerial = snapshot.serial;
      this.desired = snapshot;
      this.entries.set(snapshot.version, entryDigests(snapshot));
      while (this.entries.size > 32) this.entries.delete(this.entries.keys().next().value!);
      const rejected = results.filter((r) => !r.accepted).map((r) => `${r.kind} ${r.key}: ${r.reason}`);
      this.o.log.info('configuration compiled', {
        version: snapshot.version,
        serial: snapshot.serial,
        routes: snapshot.routes.length,
        keys: snapshot.keys.length,
        gateways: ready.length,
        pods: endpoints.length,
        rejected,
      });
    }
    this.o.pusher.update(endpoints, this.desired);
    await this.o.pusher.settled(this.o.pushWaitMs);
    if (!this.active) return true;
    await this.writeStatuses(results, routes, keys, ready);
    return true;
  }

  private async writeStatuses(results: ObjectResult[], routes: K8sObject[], keys: K8sObject[], ready: GatewayEndpoint[]): Promise<void> {
    const objects = new Map<string, K8sObject>();
    for (const r of routes) objects.set(`ModelRoute ${objectKey(r)}`, r);
    for (const k of keys) objects.set(`ApiKey ${objectKey(k)}`, k);
    const pods = new Map(this.o.pusher.view().map((p) => [p.id, p]));
    const readyPods = ready.map((e) => pods.get(e.id)).filter((p): p is PodView => !!p);
    const want = this.entries.get(this.desired!.version)!;

    const jobs: Array<() => Promise<boolean>> = [];
    for (const r of results) {
      const id = `${r.kind} ${r.key}`;
      const obj = objects.get(id);
      if (!obj) continue;
      const digest = want.get(id);
      const sync: SyncView = { synced: 0, total: ready.length, failures: [], service: this.o.service };
      for (const p of readyPods) {
        if (digest && p.running && this.entries.get(p.running)?.get(id) === digest) sync.synced++;
        else if (p.failure) sync.failures.push(`pod ${p.pod ?? p.url}: ${p.failure}`);
      }
      const view = !this.o.usage
        ? undefined
        : r.kind === 'ApiKey'
          ? { usage: this.o.usage.get(r.key), refreshMs: this.o.usage.refreshMs }
          : { shadow: this.o.usage.shadow, refreshMs: this.o.usage.refreshMs };
      const status = desiredStatus(obj, r, sync, this.now(), view);
      if (!statusDiffers(obj.status, status)) {
        this.written.delete(id);
        continue;
      }
      const json = JSON.stringify(status);
      const memo = this.written.get(id);
      if (memo && memo.rv === obj.metadata.resourceVersion && memo.json === json) continue;
      jobs.push(() => this.writeStatus(id, obj, r, status, json));
    }
    for (const id of this.written.keys()) if (!objects.has(id)) this.written.delete(id);
    for (const id of this.reported.keys()) if (!objects.has(id)) this.reported.delete(id);

    let failed = false;
    for (let i = 0; i < jobs.length; i += STATUS_CONCURRENCY) {
      const outcomes = await Promise.all(jobs.slice(i, i + STATUS_CONCURRENCY).map((j) => j()));
      if (outcomes.includes(false)) failed = true;
      if (!this.active) return;
    }
    if (failed) this.retryLater();
    else this.statusBackoff.reset();
  }

  private async writeStatus(id: string, obj: K8sObject, r: ObjectResult, status: Record<string, unknown>, json: string): Promise<boolean> {
    const ns = obj.metadata.namespace ?? 'default';
    try {
      await this.o.client.patchStatus(r.kind, ns, obj.metadata.name, status);
      this.written.set(id, { rv: obj.metadata.resourceVersion, json });
    } catch (err) {
      if ((err as { code?: number }).code === 404) return true; // deleted meanwhile; its DELETED event is on the way
      this.o.log.warn('status write failed; will retry', { object: id, code: (err as { code?: number }).code, error: (err as Error)?.message });
      return false;
    }
    if (r.kind === 'ApiKey') await this.announceBudget(id, obj, status.usage as StatusUsage | undefined);
    const before = acceptedCondition(obj.status);
    const after = acceptedCondition(status);
    if (after?.status !== 'False') {
      this.reported.delete(id);
      return true;
    }
    const signature = `${after.reason}|${after.message}`;
    const known = before?.status === 'False' && `${before.reason}|${before.message}` === signature;
    if (!known && this.reported.get(id) !== signature) {
      this.reported.set(id, signature);
      this.o.log.warn('object rejected', { object: id, reason: r.reason, message: r.message });
      try {
        await this.o.client.createEvent(ns, rejectionEvent(obj, r, this.o.identity, this.now()));
      } catch (err) {
        // Events are best-effort, as in client-go's recorder.
        this.o.log.warn('event not recorded', { object: id, code: (err as { code?: number }).code, error: (err as Error)?.message });
      }
    }
    return true;
  }

  /** An Event when spend crosses 80% and 100% of the budget, once per threshold and period. */
  private async announceBudget(id: string, obj: K8sObject, usage: StatusUsage | undefined): Promise<void> {
    const budget = obj.spec?.budget as BudgetSpec | undefined;
    if (!budget || !usage) return;
    for (const t of crossings(obj.status?.usage, usage, budget.usd)) {
      const memo = `${id}|${usage.period}|${budget.usd}|${t}`;
      if (this.announced.has(memo)) continue;
      this.announced.add(memo);
      if (this.announced.size > 10_000) this.announced.delete(this.announced.values().next().value!);
      this.o.log.info(t >= 1 ? 'budget exhausted' : 'budget almost exhausted', {
        object: id,
        period: usage.period,
        spentUSD: usage.spentUSD,
        budgetUSD: budget.usd,
      });
      try {
        await this.o.client.createEvent(obj.metadata.namespace ?? 'default', budgetEvent(obj, t, usage, budget, this.o.identity, this.now()));
      } catch (err) {
        this.o.log.warn('event not recorded', { object: id, code: (err as { code?: number }).code, error: (err as Error)?.message });
      }
    }
  }

  private retryLater(): void {
    if (this.retryTimer || !this.active) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.schedule(0);
    }, this.statusBackoff.next());
  }

  private candidateSerial(): number {
    return Math.max(Date.now(), this.lastSerial + 1, this.serialFloor + 1);
  }

  private nextSerial(): number {
    this.lastSerial = this.candidateSerial();
    return this.lastSerial;
  }
}

/** `ModelRoute ns/name` → digest of its compiled entry (credentials included, so rotation counts as a change). */
function entryDigests(s: ConfigSnapshot): Map<string, string> {
  const m = new Map<string, string>();
  const digest = (v: unknown) => createHash('sha256').update(JSON.stringify(v)).digest('base64url');
  for (const r of s.routes) m.set(`ModelRoute ${r.name}`, digest(r));
  for (const k of s.keys) m.set(`ApiKey ${k.name}`, digest(k));
  return m;
}

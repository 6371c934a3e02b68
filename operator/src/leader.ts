import type { Logger } from '../../gateway/src/log';
import { sleep } from './backoff';
import { microTime } from './events';

/** coordination.k8s.io/v1 LeaseSpec, times as MicroTime strings. */
export interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

export interface Lease {
  metadata: { name: string; namespace?: string; resourceVersion?: string; [k: string]: unknown };
  spec?: LeaseSpec;
  [k: string]: unknown;
}

/** The three Lease calls leader election needs. Errors carry the HTTP status in `code` (409 = someone else wrote first). */
export interface LeaseClient {
  /** undefined when the Lease does not exist. */
  get(namespace: string, name: string): Promise<Lease | undefined>;
  create(namespace: string, lease: Lease): Promise<Lease>;
  replace(namespace: string, name: string, lease: Lease): Promise<Lease>;
}

export interface LeaderOptions {
  client: LeaseClient;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  log: Logger;
  onStartedLeading(): void;
  /** Leadership is gone (renew deadline passed): stop writing at once. */
  onStoppedLeading(): void;
  now?: () => number;
}

/**
 * client-go's leader election (leaderelection.go) over a Lease. A candidate takes the Lease when
 * it is free or when its holder has not renewed it for leaseDuration, measured on this process's
 * own clock from the moment it last saw the record change (so clock skew between nodes does not
 * matter). The leader renews every retryPeriod; if it cannot within renewDeadline, it stops
 * leading. On shutdown the leader releases the Lease so a standby takes over at once.
 */
export class LeaderElector {
  private observed?: Lease;
  private observedJson = '';
  private observedTime = 0;
  private leading = false;
  private lastRenew = 0;
  private stopped = false;
  private readonly stop$ = new AbortController();
  private deadlineTimer?: NodeJS.Timeout;
  private lastHolder?: string;
  /** The Lease call in flight, so release() writes after it rather than racing it with a stale resourceVersion. */
  private attempt?: Promise<unknown>;
  private readonly now: () => number;

  constructor(private readonly o: LeaderOptions) {
    this.now = o.now ?? Date.now;
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /** Runs until stopped or leadership is lost. */
  async run(): Promise<void> {
    while (!this.stopped) {
      let ok = false;
      try {
        const attempt = this.tryAcquireOrRenew();
        this.attempt = attempt.catch(() => undefined);
        ok = await this.withTimeout(attempt, this.o.renewDeadlineMs);
      } catch (err) {
        this.o.log.warn('lease update failed', {
          lease: `${this.o.namespace}/${this.o.name}`,
          code: (err as { code?: number }).code,
          error: (err as Error)?.message,
        });
      }
      if (this.stopped) return;
      if (ok) {
        this.lastRenew = this.now();
        if (!this.leading) {
          this.leading = true;
          this.o.log.info('became leader', { lease: `${this.o.namespace}/${this.o.name}`, identity: this.o.identity });
          this.deadlineTimer = setInterval(() => this.checkDeadline(), Math.max(50, Math.floor(this.o.retryPeriodMs / 2)));
          this.o.onStartedLeading();
        }
      } else if (this.leading) {
        this.checkDeadline();
        if (!this.leading) return;
      }
      // Candidates jitter like client-go (JitterFactor 1.2) so they don't stampede; a leader renews on the period.
      await sleep(this.leading ? this.o.retryPeriodMs : this.o.retryPeriodMs * (1 + Math.random() * 1.2), this.stop$.signal);
    }
  }

  /** Stops campaigning; a leader gives the Lease up (holderIdentity "") so another replica need not wait it out. */
  async release(): Promise<void> {
    this.stopped = true;
    this.stop$.abort();
    clearInterval(this.deadlineTimer);
    if (!this.leading) return;
    this.leading = false;
    try {
      await this.withTimeout(this.attempt ?? Promise.resolve(), 2000).catch(() => undefined);
      const give = async (lease: Lease) => {
        const now = microTime(new Date(this.now()));
        const spec: LeaseSpec = {
          holderIdentity: '',
          leaseDurationSeconds: 1,
          acquireTime: now,
          renewTime: now,
          leaseTransitions: lease.spec?.leaseTransitions ?? 0,
        };
        await this.withTimeout(this.o.client.replace(this.o.namespace, this.o.name, { ...lease, spec }), 2000);
      };
      try {
        if (!this.observed) throw Object.assign(new Error('no lease seen'), { code: 409 });
        await give(this.observed);
      } catch (err) {
        if ((err as { code?: number }).code !== 409) throw err;
        // Our view was stale: release only what is still ours.
        const current = await this.withTimeout(this.o.client.get(this.o.namespace, this.o.name), 2000);
        if (current?.spec?.holderIdentity !== this.o.identity) return;
        await give(current);
      }
      this.o.log.info('released the lease', { lease: `${this.o.namespace}/${this.o.name}` });
    } catch (err) {
      this.o.log.warn('could not release the lease; the next leader waits for it to expire', {
        code: (err as { code?: number }).code,
        error: (err as Error)?.message,
      });
    }
  }

  private checkDeadline(): void {
    if (!this.leading || this.now() - this.lastRenew <= this.o.renewDeadlineMs) return;
    this.leading = false;
    this.stopped = true;
    this.stop$.abort();
    clearInterval(this.deadlineTimer);
    this.o.log.error('lost the lease: no renewal within the renew deadline', {
      lease: `${this.o.namespace}/${this.o.name}`,
      renewDeadlineMs: this.o.renewDeadlineMs,
    });
    this.o.onStoppedLeading();
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const now = this.now();
    const stamp = microTime(new Date(now));
    const durationSeconds = Math.max(1, Math.round(this.o.leaseDurationMs / 1000));

    // Fast path: the leader renews from the record it wrote last, without reading first.
    if (this.leading && this.observed) {
      try {
        const spec = { ...this.observed.spec, holderIdentity: this.o.identity, leaseDurationSeconds: durationSeconds, renewTime: stamp };
        this.observe(await this.o.client.replace(this.o.namespace, this.o.name, { ...this.observed, spec }), now);
        return true;
      } catch (err) {
        if ((err as { code?: number }).code !== 409) throw err;
      }
    }

    const current = await this.o.client.get(this.o.namespace, this.o.name);
    if (!current) {
      const lease: Lease = {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: this.o.name, namespace: this.o.namespace },
        spec: { holderIdentity: this.o.identity, leaseDurationSeconds: durationSeconds, acquireTime: stamp, renewTime: stamp, leaseTransitions: 0 },
      };
      try {
        this.observe(await this.o.client.create(this.o.namespace, lease), now);
        return true;
      } catch (err) {
        if ((err as { code?: number }).code === 409) return false;
        throw err;
      }
    }

    const spec = current.spec ?? {};
    const json = JSON.stringify(spec);
    if (json !== this.observedJson) {
      this.observedJson = json;
      this.observedTime = now;
    }
    this.observed = current;
    const holder = spec.holderIdentity ?? '';
    if (holder !== this.lastHolder) {
      if (holder && holder !== this.o.identity) this.o.log.info('following', { leader: holder });
      this.lastHolder = holder;
    }
    const ttl = (spec.leaseDurationSeconds ?? durationSeconds) * 1000;
    if (holder && holder !== this.o.identity && this.observedTime + ttl > now) return false;

    const next: LeaseSpec =
      holder === this.o.identity
        ? { ...spec, leaseDurationSeconds: durationSeconds, renewTime: stamp }
        : {
            holderIdentity: this.o.identity,
            leaseDurationSeconds: durationSeconds,
            acquireTime: stamp,
            renewTime: stamp,
            leaseTransitions: (spec.leaseTransitions ?? 0) + 1,
          };
    try {
      this.observe(await this.o.client.replace(this.o.namespace, this.o.name, { ...current, spec: next }), now);
      return true;
    } catch (err) {
      if ((err as { code?: number }).code === 409) return false;
      throw err;
    }
  }

  private observe(lease: Lease, now: number): void {
    this.observed = lease;
    this.observedJson = JSON.stringify(lease.spec ?? {});
    this.observedTime = now;
    this.lastHolder = lease.spec?.holderIdentity;
  }

  /** client-node requests have no timeout of their own; a hung call must not outlive the renew deadline. */
  private withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
    let t: NodeJS.Timeout | undefined;
    return Promise.race([
      p.finally(() => clearTimeout(t)),
      new Promise<T>((_, reject) => {
        t = setTimeout(() => reject(Object.assign(new Error(`lease request timed out after ${ms} ms`), { code: 0 })), ms);
      }),
    ]);
  }
}

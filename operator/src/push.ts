import type { ConfigSnapshot } from '../../gateway/src/config/snapshot';
import type { Logger } from '../../gateway/src/log';
import { Backoff, sleep } from './backoff';
import type { GatewayEndpoint } from './endpoints';
import type { OperatorMetrics } from './metrics';

export interface PusherOptions {
  /** SWITCHYARD_ADMIN_TOKEN; sent only to gateways' admin ports. */
  token: string;
  timeoutMs: number;
  /** How often each pod's GET /admin/config is compared with what it should run (catches restarts at the same address). */
  checkIntervalMs: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  userAgent: string;
  log: Logger;
  /** Something the status depends on changed (a push finished or failed, a check found a difference). */
  onChange(): void;
  /** A pod runs a snapshot with this serial, newer than ours: stamp ours above it. */
  onNewerSerial(serial: number): void;
  metrics?: OperatorMetrics;
}

export interface PodView {
  id: string;
  url: string;
  pod?: string;
  ready: boolean;
  /** The snapshot version the pod runs, as far as the operator knows. */
  running?: string;
  /** The last push or check failure, cleared by a success. */
  failure?: string;
}

interface PodState {
  ep: GatewayEndpoint;
  running?: string;
  failure?: string;
  pushing?: { stamp: string; abort: AbortController; done: Promise<void> };
  checking?: boolean;
}

/**
 * Delivers the desired snapshot to every gateway pod: PUT /admin/config in parallel, retrying each
 * pod with backoff until it runs the snapshot or the snapshot changes. A periodic GET
 * /admin/config per pod notices a pod that restarted at the same address (it answers 404 until
 * configured) and pushes again.
 */
export class Pusher {
  private pods = new Map<string, PodState>();
  private desired?: ConfigSnapshot;
  private timer?: NodeJS.Timeout;
  private stopped = false;

  constructor(private readonly o: PusherOptions) {}

  start(): void {
    this.timer ??= setInterval(() => void this.checkAll(), this.o.checkIntervalMs);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    for (const s of this.pods.values()) s.pushing?.abort.abort();
  }

  /** The pods to serve and the snapshot they should run; starts whatever pushes that takes. */
  update(endpoints: GatewayEndpoint[], desired: ConfigSnapshot): void {
    if (this.stopped) return;
    this.desired = desired;
    const seen = new Set<string>();
    for (const ep of endpoints) {
      seen.add(ep.id);
      let s = this.pods.get(ep.id);
      if (!s || s.ep.url !== ep.url) {
        s?.pushing?.abort.abort();
        s = { ep };
        this.pods.set(ep.id, s);
      }
      // A pod that stops being ready may have restarted without its configuration; ask again.
      if (s.ep.ready && !ep.ready) s.running = undefined;
      s.ep = ep;
      this.ensure(s);
    }
    for (const [id, s] of this.pods) {
      if (seen.has(id)) continue;
      s.pushing?.abort.abort();
      this.pods.delete(id);
      // Another endpoint of the same pod (a second slice) keeps its series.
      if (![...this.pods.values()].some((o) => podLabel(o) === podLabel(s))) this.o.metrics?.podGone(podLabel(s));
    }
  }

  view(): PodView[] {
    return [...this.pods.values()].map((s) => ({ id: s.ep.id, url: s.ep.url, pod: s.ep.pod, ready: s.ep.ready, running: s.running, failure: s.failure }));
  }

  /** Resolves once every push in flight has had its first answer, or after `ms`. */
  async settled(ms: number): Promise<void> {
    const inflight = [...this.pods.values()].flatMap((s) => (s.pushing ? [s.pushing.done] : []));
    if (!inflight.length) return;
    let t: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(inflight), new Promise<void>((r) => (t = setTimeout(r, ms)))]);
    clearTimeout(t);
  }

  private ensure(s: PodState): void {
    const d = this.desired;
    if (!d) return;
    const stamp = `${d.version}@${d.serial}`;
    if (s.running === d.version) {
      s.pushing?.abort.abort();
      s.pushing = undefined;
      return;
    }
    if (s.pushing?.stamp === stamp) return;
    s.pushing?.abort.abort();
    const abort = new AbortController();
    let firstAnswer!: () => void;
    const done = new Promise<void>((r) => (firstAnswer = r));
    s.pushing = { stamp, abort, done };
    void this.pushLoop(s, d, abort, firstAnswer);
  }

  private async pushLoop(s: PodState, snapshot: ConfigSnapshot, abort: AbortController, firstAnswer: () => void): Promise<void> {
    const backoff = new Backoff(this.o.backoffBaseMs, this.o.backoffMaxMs);
    const body = JSON.stringify(snapshot);
    try {
      while (!abort.signal.aborted && !this.stopped) {
        let failure: string | undefined;
        try {
          const res = await fetch(`${s.ep.url}/admin/config`, {
            method: 'PUT',
            headers: { authorization: `Bearer ${this.o.token}`, 'content-type': 'application/json', 'user-agent': this.o.userAgent },
            body,
            signal: AbortSignal.any([abort.signal, AbortSignal.timeout(this.o.timeoutMs)]),
          });
          const text = await res.text();
          if (res.ok) {
            const answer = JSON.parse(text) as { applied?: boolean; version?: string };
            s.running = answer.version;
            if (answer.version === snapshot.version) {
              this.o.metrics?.pushed(podLabel(s), answer.applied === false ? 'unchanged' : 'applied');
              if (s.failure) this.o.log.info('gateway configured', { pod: s.ep.pod, url: s.ep.url, version: snapshot.version });
              s.failure = undefined;
              this.o.log.debug('pushed', { pod: s.ep.pod, url: s.ep.url, version: snapshot.version, applied: answer.applied });
              return;
            }
            // The pod kept a snapshot with a newer serial (another operator's, or this clock went back).
            const serial = await this.serialOf(s, abort.signal);
            failure = `runs configuration ${answer.version} with a newer serial${serial ? ` (${serial})` : ''}`;
            if (serial) this.o.onNewerSerial(serial);
          } else {
            failure = `PUT /admin/config answered ${res.status}${errorType(text)}`;
          }
        } catch (err) {
          if (abort.signal.aborted || this.stopped) return;
          failure = describe(err);
        }
        this.o.metrics?.pushed(podLabel(s), 'failed');
        if (failure !== s.failure) {
          // Pods that are starting up fail their first pushes routinely; say so quietly.
          (s.ep.ready ? this.o.log.warn : this.o.log.debug)('push failed; retrying', { pod: s.ep.pod, url: s.ep.url, error: failure });
          s.failure = failure;
          this.o.onChange();
        }
        firstAnswer();
        await sleep(backoff.next(), abort.signal);
      }
    } finally {
      firstAnswer();
      if (s.pushing?.abort === abort) s.pushing = undefined;
      if (!abort.signal.aborted) this.o.onChange();
    }
  }

  private async checkAll(): Promise<void> {
    if (this.stopped || !this.desired) return;
    await Promise.all([...this.pods.values()].filter((s) => !s.pushing && !s.checking).map((s) => this.check(s)));
  }

  /** Compares what a pod runs with what the operator thinks it runs. */
  private async check(s: PodState): Promise<void> {
    s.checking = true;
    const before = `${s.running}|${s.failure}`;
    try {
      const res = await fetch(`${s.ep.url}/admin/config`, {
        headers: { authorization: `Bearer ${this.o.token}`, 'user-agent': this.o.userAgent },
        signal: AbortSignal.timeout(this.o.timeoutMs),
      });
      const text = await res.text();
      if (res.status === 404) {
        s.running = undefined;
      } else if (res.ok) {
        const summary = JSON.parse(text) as { version?: string; serial?: number };
        s.running = summary.version;
        s.failure = undefined;
        if (this.desired && summary.version !== this.desired.version && typeof summary.serial === 'number' && summary.serial >= this.desired.serial)
          this.o.onNewerSerial(summary.serial);
      } else {
        s.failure = `GET /admin/config answered ${res.status}${errorType(text)}`;
      }
    } catch (err) {
      s.running = undefined;
      s.failure = describe(err);
    } finally {
      s.checking = false;
    }
    if (this.stopped || this.pods.get(s.ep.id) !== s) return;
    if (`${s.running}|${s.failure}` !== before) {
      if (s.running !== this.desired?.version)
        this.o.log.info('gateway does not run the current configuration; pushing', { pod: s.ep.pod, url: s.ep.url, running: s.running ?? null });
      this.ensure(s);
      this.o.onChange();
    }
  }

  private async serialOf(s: PodState, signal: AbortSignal): Promise<number | undefined> {
    try {
      const res = await fetch(`${s.ep.url}/admin/config`, {
        headers: { authorization: `Bearer ${this.o.token}`, 'user-agent': this.o.userAgent },
        signal: AbortSignal.any([signal, AbortSignal.timeout(this.o.timeoutMs)]),
      });
      if (!res.ok) return undefined;
      const serial = ((await res.json()) as { serial?: unknown }).serial;
      return typeof serial === 'number' ? serial : undefined;
    } catch {
      return undefined;
    }
  }
}

function podLabel(s: PodState): string {
  return s.ep.pod ?? s.ep.id;
}

/** The error envelope's type only: gateway messages are safe, but keep status text short and fixed. */
function errorType(text: string): string {
  try {
    const t = (JSON.parse(text) as { error?: { type?: string } }).error?.type;
    return t ? ` (${t})` : '';
  } catch {
    return '';
  }
}

function describe(err: unknown): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError') return 'timed out';
  return e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(err);
}

import type { IncomingHttpHeaders } from 'node:http';
import { mergeUsage, newRequestId, zeroUsage, type CallContext } from '../core/call';
import { priceUsage } from '../core/cost';
import { payload } from '../core/payload';
import type { Route, Shadow, Target } from '../core/routes';
import { UpstreamFailure, type ProviderAdapter, type StreamEvent } from '../core/upstream';
import type { Logger } from '../log';
import { outputFromEvents, outputFromMessage } from '../telemetry/genai-content';
import { isSampled } from './sampler';
import { addUsage, ShadowStats, type ShadowCounts } from './stats';
import type { ShadowRecorder, ShadowRun, SkipReason } from './run';

/** The parts of the client's request a shadow needs besides the parsed body the call carries. */
export interface ShadowRequest {
  raw: Buffer;
  search: string;
  clientHeaders: IncomingHttpHeaders;
}

export interface ShadowRunnerOptions {
  adapter(target: Target): ProviderAdapter;
  log: Logger;
  now(): number;
  random?: () => number;
}

interface Running {
  run: ShadowRun;
  abort(): void;
  done: Promise<void>;
}

/**
 * Shadow traffic: a sample of a route's requests also goes to each of its shadows, through the
 * same provider adapters (so each provider's translation is the one the primary path uses), and
 * the answers are recorded, never relayed. A shadow never delays or changes the primary: it is
 * sent on the next turn of the event loop, after the primary's attempt has gone out; nothing
 * awaits it; it has its own timeout and no retries; the client leaving does not cancel it; and
 * whatever it throws ends in its own record. Over `maxConcurrent` a sampled request is skipped
 * and counted, never queued.
 */
export class ShadowRunner {
  readonly stats: ShadowStats;
  private readonly recorders: ShadowRecorder[] = [];
  private readonly running = new Set<Running>();
  /** Shadows in flight per route and shadow name (the maxConcurrent cap is per pod). */
  private readonly active = new Map<string, number>();
  private draining = false;
  private idleWaiters: Array<() => void> = [];

  constructor(private readonly o: ShadowRunnerOptions) {
    this.stats = new ShadowStats(o.now);
  }

  addRecorder(r: ShadowRecorder): void {
    this.recorders.push(r);
  }

  get inflight(): number {
    return this.running.size;
  }

  /** The request-path hook: for a Messages request on a route with shadows, once it has been admitted. Never throws. */
  offer(call: CallContext, req: ShadowRequest): void {
    if (call.endpoint !== 'messages') return;
    const route = call.route!;
    for (const shadow of route.shadows ?? []) {
      try {
        this.offerOne(call, route, shadow, req);
      } catch (err) {
        this.o.log.error('shadow not started', { request_id: call.requestId, shadow: shadow.name, err: String(err) });
      }
    }
  }

  private offerOne(call: CallContext, route: Route, shadow: Shadow, req: ShadowRequest): void {
    if (!isSampled(shadow, call.key?.name, this.o.random)) return;
    const counts = this.stats.of(route, shadow);
    counts.sampled++;
    const slot = `${route.name}\n${shadow.name}`;
    const n = this.active.get(slot) ?? 0;
    const skip: SkipReason | undefined = this.draining ? 'draining' : n >= shadow.maxConcurrent ? 'max_concurrent' : undefined;
    if (skip) {
      counts.skipped++;
      for (const r of this.recorders) this.safe(() => r.skipped?.(route.name, shadow, skip));
      return;
    }
    this.active.set(slot, n + 1);
    counts.inflight++;
    const run: ShadowRun = {
      requestId: newRequestId(),
      shadowOf: call.requestId,
      trace: call.trace,
      route: route.name,
      shadow,
      requestedModel: call.requestedModel ?? '',
      stream: call.stream,
      startTime: new Date(this.o.now()),
      startedAt: performance.now(),
      usage: zeroUsage(),
      costUSD: 0,
      outputChars: 0,
    };
    const ac = new AbortController();
    let shutdown = false;
    const running: Running = {
      run,
      abort: () => {
        shutdown = true;
        ac.abort(new UpstreamFailure('aborted', `shadow '${shadow.name}' cut by the gateway shutting down`));
      },
      done: Promise.resolve(),
    };
    this.running.add(running);
    // The next turn: the primary's attempt is sent first, whatever the shadow's translation costs.
    running.done = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.execute(run, call.body!, req, ac, () => shutdown))
      .catch((err) => this.o.log.error('shadow failed', { request_id: run.requestId, shadow_of: run.shadowOf, err: String(err) }))
      .finally(() => {
        const left = (this.active.get(slot) ?? 1) - 1;
        if (left > 0) this.active.set(slot, left);
        else this.active.delete(slot);
        this.finish(run, counts);
        this.running.delete(running);
        if (this.running.size === 0) for (const w of this.idleWaiters.splice(0)) w();
      });
  }

  private async execute(run: ShadowRun, body: Record<string, any>, req: ShadowRequest, ac: AbortController, shutdown: () => boolean): Promise<void> {
    const { shadow } = run;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      ac.abort(new UpstreamFailure('timeout', `shadow '${shadow.name}' did not finish within ${shadow.timeoutSeconds}s`));
    }, shadow.timeoutSeconds * 1000);
    timer.unref();
    // Timed from here, when it is sent, not from when it was sampled a turn earlier.
    run.startTime = new Date(this.o.now());
    run.startedAt = performance.now();
    const extraHeaders: Record<string, string> = {};
    let events: StreamEvent[] | undefined;
    for (const r of this.recorders) {
      this.safe(() => {
        const s = r.start?.(run);
        if (s?.headers) Object.assign(extraHeaders, s.headers);
        if (s?.content) events ??= [];
      });
    }
    try {
      const reply = await this.o.adapter(shadow.target).send({
        endpoint: 'messages',
        body,
        raw: req.raw,
        search: req.search,
        clientHeaders: req.clientHeaders,
        target: shadow.target,
        signal: ac.signal,
        requestId: run.requestId,
        extraHeaders,
      });
      run.status = reply.status;
      if (reply.kind === 'json') {
        const b = reply.body;
        if (reply.status < 300) {
          mergeUsage(run.usage, b?.usage);
          if (typeof b?.model === 'string') run.responseModel = b.model;
          if (typeof b?.stop_reason === 'string') run.stopReason = b.stop_reason;
          run.outputChars = contentChars(b?.content);
          if (events) run.output = outputFromMessage(b);
          run.outcome = 'ok';
        } else {
          run.errorType = typeof b?.error?.type === 'string' ? b.error.type : 'api_error';
          run.outcome = 'error';
        }
      } else {
        // Read to the end: the shadow's answer is only known once its stream is.
        let sawStop = false;
        for await (const batch of reply.events) {
          for (const ev of batch) {
            events?.push(ev);
            sawStop = this.observe(run, ev) || sawStop;
          }
        }
        if (run.errorType) run.outcome = 'error';
        else if (sawStop) run.outcome = 'ok';
        else {
          run.errorType = 'api_error'; // cut short without message_stop: not a complete answer
          run.outcome = 'error';
        }
        if (events) run.output = outputFromEvents(events);
      }
    } catch (err) {
      const f = err instanceof UpstreamFailure ? err : undefined;
      if (timedOut) {
        run.outcome = 'timeout';
        run.errorType = 'timeout_error';
      } else if (shutdown()) {
        run.outcome = 'aborted';
        run.errorType = 'shutdown';
      } else if (f?.kind === 'timeout' || f?.kind === 'idle_timeout') {
        run.outcome = 'timeout';
        run.errorType = 'timeout_error';
      } else {
        run.outcome = 'failure';
        run.errorType = f?.kind ?? 'internal';
        if (!f) this.o.log.error('shadow failed', { request_id: run.requestId, shadow_of: run.shadowOf, err: String(err) });
      }
    } finally {
      clearTimeout(timer);
    }
  }

  /** Records one streamed event; true on `message_stop`. */
  private observe(run: ShadowRun, ev: StreamEvent): boolean {
    switch (ev.event) {
      case 'content_block_delta': {
        run.firstTokenAt ??= performance.now();
        const d = payload(ev)?.delta;
        run.outputChars += textLength(d?.text) + textLength(d?.thinking) + textLength(d?.partial_json);
        return false;
      }
      case 'message_start': {
        const m = payload(ev)?.message;
        mergeUsage(run.usage, m?.usage);
        if (typeof m?.model === 'string') run.responseModel = m.model;
        return false;
      }
      case 'message_delta': {
        const d = payload(ev);
        mergeUsage(run.usage, d?.usage);
        if (typeof d?.delta?.stop_reason === 'string') run.stopReason = d.delta.stop_reason;
        return false;
      }
      case 'error': {
        const type = payload(ev)?.error?.type;
        run.errorType = typeof type === 'string' ? type : 'api_error';
        return false;
      }
      case 'message_stop':
        return true;
      default:
        return false;
    }
  }

  private finish(run: ShadowRun, counts: ShadowCounts): void {
    run.endedAt = performance.now();
    run.outcome ??= 'failure';
    // The shadow's own price: the route's pricing is the primary's model's, not the shadow's.
    run.costUSD = priceUsage(run.shadow.target.pricing, run.usage).total;
    counts.inflight--;
    if (run.outcome === 'ok') counts.completed++;
    else counts.failed++;
    addUsage(counts, run.usage, run.costUSD);
    for (const r of this.recorders) this.safe(() => r.end?.(run));
  }

  /**
   * Shutdown: no new shadows from here on; those in flight get until `deadline` (performance.now())
   * to finish, then are aborted (recorded as `aborted`). Resolves with how many were aborted.
   */
  async drain(deadline: number): Promise<number> {
    this.draining = true;
    const left = Math.max(0, deadline - performance.now());
    if (this.running.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([new Promise<void>((resolve) => this.idleWaiters.push(resolve)), new Promise<void>((resolve) => (timer = setTimeout(resolve, left)))]);
      clearTimeout(timer);
    }
    return this.abortAll();
  }

  /** Aborts every shadow in flight and waits for their records. */
  async abortAll(): Promise<number> {
    this.draining = true;
    const cut = [...this.running];
    for (const r of cut) r.abort();
    await Promise.all(cut.map((r) => r.done));
    return cut.length;
  }

  private safe(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.o.log.error('shadow recorder failed', { err: String(err) });
    }
  }
}

const textLength = (s: unknown) => (typeof s === 'string' ? s.length : 0);

function contentChars(content: unknown): number {
  if (!Array.isArray(content)) return 0;
  let n = 0;
  for (const b of content) {
    n += textLength(b?.text) + textLength(b?.thinking);
    if (b?.type === 'tool_use' && b.input !== undefined) n += JSON.stringify(b.input).length;
  }
  return n;
}

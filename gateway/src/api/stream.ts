import type { ServerResponse } from 'node:http';
import { mergeUsage, type CallContext } from '../core/call';
import { envelope } from '../core/errors';
import { formatEvent } from '../core/sse';
import { payload } from '../core/payload';
import { UpstreamFailure, type EventBatch, type StreamEvent } from '../core/upstream';
import { CLIENT_STALLED, drained } from './write-stall';

export interface StreamHooks {
  firstToken(): void;
  usage(): void;
}

const PING = formatEvent('ping', { type: 'ping' });

/**
 * One timer for all open streams rather than one per stream: at thousands of concurrent streams,
 * per-stream intervals are measurable; a sweep every 250 ms is not.
 */
const live = new Set<SseRelay>();
let sweeper: NodeJS.Timeout | undefined;
function track(s: SseRelay): void {
  live.add(s);
  if (!sweeper) {
    sweeper = setInterval(() => {
      const now = Date.now();
      for (const x of live) x.pingIfIdle(now);
    }, 250);
    sweeper.unref();
  }
}
function untrack(s: SseRelay): void {
  live.delete(s);
  if (live.size === 0 && sweeper) {
    clearInterval(sweeper);
    sweeper = undefined;
  }
}

/**
 * What runs when each shutdown signal fires, for the streams open then: one EventTarget listener per
 * signal rather than one per stream (adding and removing one costs microseconds).
 */
const onShutdowns = new WeakMap<AbortSignal, Set<() => void>>();
function shutdownHooks(signal: AbortSignal): Set<() => void> {
  let hooks = onShutdowns.get(signal);
  if (!hooks) {
    const set = (hooks = new Set());
    onShutdowns.set(signal, set);
    signal.addEventListener('abort', () => set.forEach((f) => f()), { once: true });
  }
  return hooks;
}

/**
 * The client side of a streamed response, written straight to the socket (Koa's `respond = false`
 * pattern: piping a Readable through Koa costs a stream.pipeline, and its AbortController, per
 * stream). Pulls event batches from the upstream only as fast as the client reads (waits for
 * `drain`), keeps usage and first-token time on the call, sends `ping` during long silences, and
 * never ends a stream silently: a stream that breaks or stops short gets a final `error` event.
 */
export class SseRelay {
  private finished = false;
  private lastPush = Date.now();
  private sawStop = false;
  private sawError = false;
  private readonly upstream: AsyncIterator<EventBatch>;

  constructor(
    private readonly res: ServerResponse,
    events: AsyncIterable<EventBatch>,
    private readonly call: CallContext,
    private readonly hooks: StreamHooks,
    private readonly abortUpstream: () => void,
    private readonly pingIntervalMs: number,
    private readonly shutdown?: AbortSignal,
    /** How long to wait for a client that stopped reading before cutting it off (0: for ever). */
    private readonly stallMs = 0,
  ) {
    this.upstream = events[Symbol.asyncIterator]();
  }

  /** Sends the stream; resolves when it has ended or the client has gone. */
  async run(): Promise<void> {
    const { res } = this;
    const onClose = () => {
      if (this.finished) return;
      // The client went away mid-stream: stop the upstream.
      this.finished = true;
      untrack(this);
      this.abortUpstream();
      void this.upstream.return?.().catch(() => undefined);
    };
    res.on('close', onClose);
    // Drain time ran out: the client gets an error it can retry elsewhere, not a silent cut.
    const onShutdown = () => {
      if (this.finished) return;
      this.finished = true;
      untrack(this);
      res.off('close', onClose);
      this.call.cutByGateway = true;
      this.fail('overloaded_error', 'gateway shutting down');
      res.end();
      this.abortUpstream();
      void this.upstream.return?.().catch(() => undefined);
    };
    // The headers leave with the first batch, in the same write: a routed stream was primed, so that
    // batch is already in hand. One still awaited gets its headers alone, on the next tick.
    process.nextTick(() => {
      if (!res.headersSent && !res.destroyed) res.flushHeaders();
    });
    if (this.pingIntervalMs > 0) track(this);
    const hooks = this.shutdown && shutdownHooks(this.shutdown);
    if (this.shutdown?.aborted) onShutdown();
    else hooks?.add(onShutdown);
    try {
      for (;;) {
        const next = await this.upstream.next();
        if (this.finished) return;
        if (next.done) {
          if (!this.sawStop && !this.sawError) this.fail('api_error', 'upstream stream ended before message_stop');
          return;
        }
        const batch = next.value;
        let ended = false;
        const stopped = this.sawStop;
        for (const ev of batch) {
          this.observe(ev);
          if (ev.event === 'error') ended = true;
        }
        if (this.sawStop && !stopped) {
          // The upstream's end follows message_stop: held back until then, the last events and the
          // response's end go out in one write (end() uncorks). An upstream slow to end gets them
          // released after this turn of the event loop.
          res.cork();
          setImmediate(() => {
            if (!res.writableEnded) res.uncork();
          });
        }
        // The upstream's own bytes, when the batch has them, go out without a decode/encode round trip.
        const out = batch.bytes ?? batch.map((e) => e.raw ?? formatEvent(e.event, e.data)).join('');
        if (!this.write(out) && (await drained(res, this.stallMs)) === 'stalled' && !this.finished) {
          // The client stopped reading: its socket, the upstream and the bytes queued for it would
          // otherwise stay for as long as it keeps the connection open.
          this.finished = true;
          untrack(this);
          res.off('close', onClose);
          this.call.clientStalled = true;
          this.call.errorType = CLIENT_STALLED;
          this.call.errorMessage = `client read nothing for ${this.stallMs / 1000} s`;
          this.abortUpstream();
          void this.upstream.return?.().catch(() => undefined);
          res.destroy();
          return;
        }
        if (ended) return;
      }
    } catch (err) {
      if (this.finished) return;
      const f = err instanceof UpstreamFailure ? err : undefined;
      if (f?.kind === 'aborted') return;
      this.fail(
        f?.kind === 'idle_timeout' || f?.kind === 'timeout' ? 'timeout_error' : 'api_error',
        f?.message ?? `stream failed: ${(err as Error)?.message ?? err}`,
      );
    } finally {
      hooks?.delete(onShutdown);
      if (!this.finished) {
        this.finished = true;
        untrack(this);
        res.off('close', onClose);
        res.end();
      }
    }
  }

  pingIfIdle(now: number): void {
    if (!this.finished && now - this.lastPush >= this.pingIntervalMs) this.write(PING);
  }

  private write(chunk: string | Buffer): boolean {
    this.lastPush = Date.now();
    return this.res.write(chunk);
  }

  private fail(type: string, message: string): void {
    this.call.errorType = type;
    this.call.errorMessage = message;
    this.sawError = true;
    this.write(formatEvent('error', envelope(type, message, this.call.requestId)));
  }

  private observe(ev: StreamEvent): void {
    this.call.eventTap?.(ev);
    switch (ev.event) {
      case 'content_block_delta':
        if (this.call.firstTokenAt === undefined) {
          this.call.firstTokenAt = performance.now();
          this.hooks.firstToken();
        }
        return;
      case 'message_start': {
        const d = payload(ev);
        if (d?.message) {
          mergeUsage(this.call.usage, d.message.usage);
          if (typeof d.message.model === 'string') this.call.responseModel = d.message.model;
          this.hooks.usage();
        }
        return;
      }
      case 'message_delta': {
        const d = payload(ev);
        mergeUsage(this.call.usage, d?.usage);
        if (typeof d?.delta?.stop_reason === 'string') this.call.stopReason = d.delta.stop_reason;
        this.hooks.usage();
        return;
      }
      case 'message_stop':
        this.sawStop = true;
        return;
      case 'error': {
        const d = payload(ev);
        this.sawError = true;
        this.call.errorType = typeof d?.error?.type === 'string' ? d.error.type : 'api_error';
        this.call.errorMessage = typeof d?.error?.message === 'string' ? d.error.message : undefined;
        return;
      }
    }
  }
}

import type { ServerResponse } from 'node:http';
import { mergeUsage, type CallContext } from '../core/call';
import { envelope } from '../core/errors';
import { formatEvent } from '../core/sse';
import { payload } from '../core/payload';
import type { BatchSink, BatchStream } from '../core/batch-stream';
import { UpstreamFailure, type EventBatch, type StreamEvent } from '../core/upstream';
import { CLIENT_STALLED, drained } from './write-stall';
import { shutdownSet, type Shutdownable } from './shutdown-set';

export interface StreamHooks {
  firstToken(): void;
  usage(): void;
  /** A failure that is not the upstream's (a bug): the client still gets its `error` event. */
  unexpected(err: unknown): void;
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
 * Node keeps a response's header block (`_header`) for the response's life, as it built it: a
 * `+=` per header line, a tree of ~24 cons strings and their pieces (~1 KiB) for every open stream.
 * A search through a string makes V8 flatten it in place (and the GC then drops the tree); the
 * text, and what Node does with it, stay the same.
 */
function flattenHeaderBlock(res: ServerResponse): void {
  const header = (res as { _header?: unknown })._header;
  if (typeof header === 'string') header.indexOf('\0');
}

/**
 * The client side of a streamed response, written straight to the socket (Koa's `respond = false`
 * pattern: piping a Readable through Koa costs a stream.pipeline, and its AbortController, per
 * stream). Fed each batch as it arrives (BatchStream's push side: no promise per event, nothing
 * per event held until the next), it holds the upstream back while the client is not reading
 * (`drain`), keeps usage and first-token time on the call, sends `ping` during long silences, and
 * never ends a stream silently: a stream that breaks or stops short gets a final `error` event.
 */
export class SseRelay implements BatchSink, Shutdownable {
  private finished = false;
  private lastPush = Date.now();
  private sawStop = false;
  private sawError = false;
  private inFlight: Set<Shutdownable> | undefined;

  constructor(
    private readonly res: ServerResponse,
    private readonly upstream: BatchStream,
    private readonly call: CallContext,
    private readonly on: StreamHooks,
    /** Aborts the upstream request (the request's cancellation). */
    private readonly upstreamRequest: { abort(): void },
    private readonly pingIntervalMs: number,
    /** Aborted when a drain runs out of time. */
    private readonly drainSignal?: AbortSignal,
    /** How long to wait for a client that stopped reading before cutting it off (0: for ever). */
    private readonly stallMs = 0,
  ) {}

  /** Starts sending the stream; it goes on from the upstream's and the client's events. */
  run(): void {
    const { res } = this;
    res.on('close', this.onClose);
    // The headers leave with the first batch, in the same write: a routed stream was primed, so that
    // batch is already in hand. One still awaited gets its headers alone, on the next tick.
    process.nextTick(() => {
      if (!res.headersSent && !res.destroyed) res.flushHeaders();
      flattenHeaderBlock(res);
    });
    if (this.pingIntervalMs > 0) track(this);
    if (this.drainSignal?.aborted) return this.shutdown();
    if (this.drainSignal) (this.inFlight = shutdownSet(this.drainSignal)).add(this);
    this.upstream.consume(this);
  }

  batch(batch: EventBatch): void {
    if (this.finished) return;
    const { res } = this;
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
    if (ended) {
      // An error event is the stream's last: nothing after it is read.
      this.write(out);
      this.upstream.cancel();
      return this.finish();
    }
    if (!this.write(out)) {
      this.upstream.pause();
      void drained(res, this.stallMs).then((how) => {
        if (this.finished) return;
        if (how === 'stalled') return this.stalled();
        this.upstream.resume();
      });
    }
  }

  end(): void {
    if (this.finished) return;
    if (!this.sawStop && !this.sawError) this.fail('api_error', 'upstream stream ended before message_stop');
    this.finish();
  }

  error(err: unknown): void {
    if (this.finished) return;
    const f = err instanceof UpstreamFailure ? err : undefined;
    if (!f) this.on.unexpected(err);
    if (f?.kind !== 'aborted')
      this.fail(
        f?.kind === 'idle_timeout' || f?.kind === 'timeout' ? 'timeout_error' : 'api_error',
        f?.message ?? `stream failed: ${(err as Error)?.message ?? err}`,
      );
    this.finish();
  }

  /** The client went away mid-stream: stop the upstream. */
  private readonly onClose = (): void => {
    if (this.finished) return;
    this.settle();
    this.stopUpstream();
  };

  /** Drain time ran out: the client gets an error it can retry elsewhere, not a silent cut. */
  shutdown(): void {
    if (this.finished) return;
    this.call.cutByGateway = true;
    this.fail('overloaded_error', 'gateway shutting down');
    this.finish();
    this.stopUpstream();
  }

  /** The client stopped reading: its socket, the upstream and the bytes queued for it would otherwise stay for as long as it keeps the connection open. */
  private stalled(): void {
    this.settle();
    this.call.clientStalled = true;
    this.call.errorType = CLIENT_STALLED;
    this.call.errorMessage = `client read nothing for ${this.stallMs / 1000} s`;
    this.stopUpstream();
    this.res.destroy();
  }

  /** Aborts the upstream request and lets go of its body. */
  private stopUpstream(): void {
    this.upstreamRequest.abort();
    this.upstream.cancel();
  }

  /** Ends the response (once), after whatever was last written. */
  private finish(): void {
    if (this.finished) return;
    this.settle();
    this.res.end();
  }

  private settle(): void {
    this.finished = true;
    untrack(this);
    this.inFlight?.delete(this);
    this.res.off('close', this.onClose);
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
          this.on.firstToken();
        }
        return;
      case 'message_start': {
        const d = payload(ev);
        if (d?.message) {
          mergeUsage(this.call.usage, d.message.usage);
          if (typeof d.message.model === 'string') this.call.responseModel = d.message.model;
          this.on.usage();
        }
        return;
      }
      case 'message_delta': {
        const d = payload(ev);
        mergeUsage(this.call.usage, d?.usage);
        if (typeof d?.delta?.stop_reason === 'string') this.call.stopReason = d.delta.stop_reason;
        this.on.usage();
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

import { Readable } from 'node:stream';
import { mergeUsage, type CallContext } from './call';
import { envelope } from './errors';
import { formatEvent } from './sse';
import { UpstreamFailure, type StreamEvent } from '../providers/types';

export interface StreamHooks {
  firstToken(): void;
  usage(): void;
}

const PING = formatEvent('ping', { type: 'ping' });

/**
 * One timer for all open streams rather than one per stream: at thousands of concurrent streams,
 * per-stream intervals are measurable; a sweep every 250 ms is not.
 */
const live = new Set<SseResponse>();
let sweeper: NodeJS.Timeout | undefined;
function track(s: SseResponse): void {
  live.add(s);
  if (!sweeper) {
    sweeper = setInterval(() => {
      const now = Date.now();
      for (const x of live) x.pingIfIdle(now);
    }, 250);
    sweeper.unref();
  }
}
function untrack(s: SseResponse): void {
  live.delete(s);
  if (live.size === 0 && sweeper) {
    clearInterval(sweeper);
    sweeper = undefined;
  }
}

/**
 * The client side of a streamed response. Pulls event batches from the upstream only as fast as
 * the client reads (backpressure), keeps usage and first-token time on the call, sends `ping`
 * during long silences, and never ends a stream silently: a stream that breaks or stops short
 * gets a final `error` event.
 */
export class SseResponse extends Readable {
  private readonly upstream: AsyncIterator<StreamEvent[]>;
  private pumping = false;
  private finished = false;
  private lastPush = Date.now();
  private sawStop = false;
  private sawError = false;

  constructor(
    events: AsyncIterable<StreamEvent[]>,
    private readonly call: CallContext,
    private readonly hooks: StreamHooks,
    private readonly onClose: () => void,
    private readonly pingIntervalMs: number,
  ) {
    super({ highWaterMark: 64 * 1024 });
    this.upstream = events[Symbol.asyncIterator]();
    if (pingIntervalMs > 0) track(this);
  }

  pingIfIdle(now: number): void {
    if (!this.finished && now - this.lastPush >= this.pingIntervalMs) this.write(PING);
  }

  override _read(): void {
    if (!this.pumping && !this.finished) void this.pump();
  }

  private write(text: string): boolean {
    this.lastPush = Date.now();
    return this.push(text);
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      for (;;) {
        const next = await this.upstream.next();
        if (this.finished) return;
        if (next.done) {
          if (!this.sawStop && !this.sawError) this.fail('api_error', 'upstream stream ended before message_stop');
          return this.end();
        }
        let text = '';
        let ended = false;
        for (const ev of next.value) {
          this.observe(ev);
          text += ev.raw ?? formatEvent(ev.event, ev.data);
          if (ev.event === 'error') {
            ended = true;
            break;
          }
        }
        const more = text ? this.write(text) : true;
        if (ended) return this.end();
        if (!more) return;
      }
    } catch (err) {
      if (this.finished) return;
      const f = err instanceof UpstreamFailure ? err : undefined;
      if (f?.kind === 'aborted') return this.end();
      this.fail(f?.kind === 'idle_timeout' || f?.kind === 'timeout' ? 'timeout_error' : 'api_error', f?.message ?? `stream failed: ${(err as Error)?.message ?? err}`);
      this.end();
    } finally {
      this.pumping = false;
    }
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

  private end(): void {
    if (this.finished) return;
    this.finished = true;
    untrack(this);
    this.push(null);
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    // The client went away (Koa destroys the body) or we are done: stop the upstream either way.
    this.finished = true;
    untrack(this);
    this.onClose();
    void this.upstream.return?.().catch(() => undefined);
    cb(err);
  }
}

/** The parsed `data` of an event: translators give objects, pass-through gives raw text. */
export function payload(ev: StreamEvent): any {
  if (ev.data !== undefined) return ev.data;
  if (!ev.raw) return undefined;
  const lines = ev.raw.split(/\r\n|\r|\n/).filter((l) => l.startsWith('data:')).map((l) => l.slice(l.startsWith('data: ') ? 6 : 5));
  try {
    return (ev.data = JSON.parse(lines.join('\n')));
  } catch {
    return undefined;
  }
}

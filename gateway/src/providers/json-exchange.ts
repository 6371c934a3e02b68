import { util, type Dispatcher } from 'undici';
import type { Target } from '../core/routes';
import { followAbort, unfollowAbort, type Cancellation } from '../core/cancellation';
import { UpstreamFailure } from '../core/upstream';
import { DEFAULT_MAX_DURATION_SECONDS, maxDurationFailure } from './deadline';
import { Due, startDue, stopDue } from '../core/due-list';
import { httpSend, readAll, safeOrigin, singleValued, targetName, toFailure, urlParts, type SendOptions, type UpstreamPools } from './http';

/** A whole upstream reply: what a non-streamed exchange gives the adapter. */
export interface WholeReply {
  status: number;
  headers: Record<string, string>;
  raw: Buffer;
}

/**
 * One HTTP exchange whose reply is read whole (`httpSend` + `readAll` in one step), with the same
 * timeouts, size limit and failures. It gives undici's dispatcher a handler of its own instead of
 * going through `request()`: no RequestHandler, no Readable for the body and no promise of
 * undici's per reply, and the whole-exchange deadline is an entry in a shared list (../core/due-list),
 * not a timer, a signal and their closures per attempt. `answer` turns the reply into what the
 * promise gives, as the reply completes. A URL undici's `request(url)` would have to refuse goes
 * the old way, to fail there as before.
 */
export function sendWhole<T>(pools: UpstreamPools, target: Target, opts: SendOptions, answer: (reply: WholeReply) => T): Promise<T> {
  const parts = urlParts(opts.url);
  if (!parts) return sendWholeByRequest(pools, target, opts, answer);
  return new Promise<T>((resolve, reject) => {
    const exchange = new WholeExchange<T>(target, pools.limits.maxResponseBytes, opts.signal, answer, resolve, reject);
    pools.agent(target.connectTimeoutSeconds * 1000).dispatch(
      {
        origin: parts.origin,
        path: parts.path,
        method: opts.method ?? 'POST',
        headers: opts.headers,
        body: opts.body,
        headersTimeout: target.timeoutSeconds * 1000,
        bodyTimeout: target.idleTimeoutSeconds * 1000,
      },
      exchange,
    );
  });
}

async function sendWholeByRequest<T>(pools: UpstreamPools, target: Target, opts: SendOptions, answer: (reply: WholeReply) => T): Promise<T> {
  const res = await httpSend(pools, target, opts);
  return answer({ status: res.status, headers: res.headers, raw: await readAll(res, target, pools.limits.maxResponseBytes) });
}

/**
 * undici's handler for one exchange (the callback interface its own handlers implement). Every
 * way the exchange can end (reply complete, transport error, timeout, client gone, reply too
 * large) settles the promise once and lets go of the client's cancellation and the deadline.
 */
class WholeExchange<T> extends Due implements Dispatcher.DispatchHandler {
  private abortRequest: ((err: Error) => void) | null = null;
  /** Why the exchange was stopped before undici handed over its abort function. */
  private reason: Error | undefined = undefined;
  private settled = false;
  private status = 0;
  private headers: Record<string, string> | undefined = undefined;
  private readonly chunks: Buffer[] = [];
  private size = 0;
  private readonly onClientAbort: () => void;

  constructor(
    private readonly target: Target,
    private readonly maxBytes: number,
    private readonly client: AbortSignal | Cancellation,
    /** Makes the reply the caller's answer, inside this promise (an error it throws rejects it). */
    private readonly answer: (reply: WholeReply) => T,
    private readonly resolve: (answer: T) => void,
    private readonly reject: (err: unknown) => void,
  ) {
    super();
    // What undici's RequestHandler did with the signal it was given: abort with its reason.
    this.onClientAbort = () => this.stop((client.reason as Error) ?? abortError());
    if (client.aborted) {
      this.reason = (client.reason as Error) ?? abortError();
      return;
    }
    followAbort(client, this.onClientAbort);
    startDue(this, (target.maxDurationSeconds ?? DEFAULT_MAX_DURATION_SECONDS) * 1000);
  }

  /** The `maxDurationSeconds` deadline: the exchange fails as a timeout. */
  expired(): void {
    this.stop(maxDurationFailure(targetName(this.target), this.target.maxDurationSeconds ?? DEFAULT_MAX_DURATION_SECONDS));
  }

  onConnect(abort: (err?: Error) => void): void {
    if (this.reason !== undefined) abort(this.reason);
    else this.abortRequest = abort;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[]): boolean {
    // 1xx: informational, the reply is still to come.
    if (statusCode < 200 || this.settled) return true;
    this.status = statusCode;
    const headers = singleValued(util.parseHeaders(rawHeaders));
    this.headers = headers;
    if (Number(headers['content-length']) > this.maxBytes) this.tooLarge();
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.settled) return true;
    this.size += chunk.length;
    if (this.size > this.maxBytes) this.tooLarge();
    else this.chunks.push(chunk);
    return true;
  }

  onComplete(): void {
    if (this.settled) return;
    this.finish();
    const { chunks } = this;
    let answer: T;
    try {
      answer = this.answer({ status: this.status, headers: this.headers!, raw: chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, this.size) });
    } catch (err) {
      this.reject(err);
      return;
    }
    this.resolve(answer);
  }

  onError(err: Error): void {
    if (this.settled) return;
    this.finish();
    this.reject(toFailure(err, this.target));
  }

  /** Stops the exchange: undici reports the abort back through `onError`, with `reason`. */
  private stop(reason: Error): void {
    if (this.settled) return;
    if (this.abortRequest) this.abortRequest(reason);
    else this.reason ??= reason;
  }

  /** Past the size limit: the connection is dropped, not drained, and the attempt fails as `too_large`. */
  private tooLarge(): void {
    this.finish();
    const err = new UpstreamFailure(
      'too_large',
      `${targetName(this.target)} sent a reply larger than the gateway's limit of ${this.maxBytes} bytes`,
      safeOrigin(this.target.baseURL),
    );
    this.reject(err);
    this.abortRequest?.(err);
  }

  private finish(): void {
    this.settled = true;
    stopDue(this);
    unfollowAbort(this.client, this.onClientAbort);
  }
}

/** The reason an AbortController gives when aborted without one (what undici saw from Cancellation.abort()). */
function abortError(): Error {
  return new DOMException('This operation was aborted', 'AbortError');
}

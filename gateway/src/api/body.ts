import type { IncomingMessage } from 'node:http';
import { Due, startDue, stopDue } from '../core/due-list';
import { GatewayError, invalidRequest } from '../core/errors';

export interface BodyOptions {
  maxBytes: number;
  /** Longest pause allowed between two chunks of a request body (slow-loris guard). */
  idleTimeoutMs: number;
  /**
   * Longest the whole body may take from the moment reading starts (slow-POST guard: a client
   * sending a byte a second never trips the idle timer).
   */
  totalTimeoutMs: number;
}

const tooLarge = (max: number) =>
  new GatewayError(413, 'request_too_large', `Request exceeds the maximum allowed size of ${max} bytes`, { connection: 'close' });

const timedOut = (message: string) => new GatewayError(408, 'invalid_request_error', message, { connection: 'close' });

/**
 * How much of an over-limit body is still read (and thrown away) before answering 413. A client
 * that is still sending when the server closes gets a TCP reset and reports EPIPE/ECONNRESET —
 * and retries, as SDKs do on connection errors — instead of seeing the 413. Beyond this bound
 * the answer goes out at once and the connection is closed.
 */
export const discardBound = (maxBytes: number) => maxBytes + Math.max(maxBytes, 1024 * 1024);

/**
 * Reads a request body without ever holding more than `maxBytes`. A body over the limit is
 * answered 413 once it has been read to its end (discarding it) as long as it stays within
 * `discardBound`; a declared length beyond that bound is refused before reading.
 */
export function readBody(req: IncomingMessage, opts: BodyOptions): Promise<Buffer> {
  const declared = req.headers['content-length'];
  const bound = discardBound(opts.maxBytes);
  if (declared !== undefined) {
    const n = Number(declared);
    if (!/^\d+$/.test(declared) || !Number.isSafeInteger(n)) return Promise.reject(invalidRequest('content-length header is not a valid length'));
    if (n > bound) return Promise.reject(tooLarge(opts.maxBytes));
  }
  const encoding = req.headers['content-encoding'];
  if (encoding && encoding !== 'identity') {
    return Promise.reject(new GatewayError(415, 'invalid_request_error', `content-encoding '${encoding}' is not supported; send an uncompressed body`));
  }
  return new Promise((resolve, reject) => new BodyRead(req, opts, bound, resolve, reject).start());
}

/**
 * One body being read: an object with its listeners, rather than a closure per listener, a timer
 * and a closure per chunk (the idle deadline re-armed), and a second timer for the total. Both
 * deadlines are entries in the shared lists of ../core/due-list: re-arming the idle one moves
 * the entry to its list's end.
 */
class BodyRead extends Due {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  private done = false;
  /** Set once the body is over the limit: the rest is counted and dropped, then 413. */
  private discarding = false;
  private total: TotalDeadline | undefined = undefined;

  constructor(
    private readonly req: IncomingMessage,
    private readonly opts: BodyOptions,
    private readonly bound: number,
    private readonly resolve: (body: Buffer) => void,
    private readonly reject: (err: Error) => void,
  ) {
    super();
  }

  start(): void {
    this.req.on('data', this.onData).on('end', this.onEnd).on('error', this.onError).on('aborted', this.onAborted);
    startDue(this, this.opts.idleTimeoutMs);
    // 0 turns the deadline off.
    if (this.opts.totalTimeoutMs > 0 && !this.done) startDue((this.total = new TotalDeadline(this)), this.opts.totalTimeoutMs);
  }

  /** The idle deadline: nothing came for `idleTimeoutMs`. */
  expired(): void {
    this.finish(timedOut(`request body not received within ${this.opts.idleTimeoutMs / 1000}s of the last byte`));
  }

  totalExpired(): void {
    const { opts } = this;
    this.finish(this.discarding ? tooLarge(opts.maxBytes) : timedOut(`request body not received within ${opts.totalTimeoutMs / 1000}s`));
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.done) return;
    this.size += chunk.length;
    if (this.size > this.opts.maxBytes) {
      if (!this.discarding) {
        this.discarding = true;
        this.chunks.length = 0;
      }
      if (this.size > this.bound) return this.finish(tooLarge(this.opts.maxBytes));
    } else this.chunks.push(chunk);
    startDue(this, this.opts.idleTimeoutMs);
  };

  private readonly onEnd = (): void => {
    const { chunks } = this;
    this.finish(this.discarding ? tooLarge(this.opts.maxBytes) : null, chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, this.size));
  };

  private readonly onError = (err: Error): void => this.finish(new GatewayError(400, 'invalid_request_error', `error reading request body: ${err.message}`));

  private readonly onAborted = (): void => this.finish(new GatewayError(400, 'invalid_request_error', 'client aborted the request body'));

  private finish(err: Error | null, body?: Buffer): void {
    if (this.done) return;
    this.done = true;
    stopDue(this);
    if (this.total) stopDue(this.total);
    const { req } = this;
    req.off('data', this.onData).off('end', this.onEnd).off('error', this.onError).off('aborted', this.onAborted);
    if (err) {
      // Stop reading what we will not use; the response carries `connection: close`.
      req.pause();
      this.reject(err);
    } else this.resolve(body!);
  }
}

/** A body's total deadline (slow-POST guard), in the list for its own length. */
class TotalDeadline extends Due {
  constructor(private readonly read: BodyRead) {
    super();
  }

  expired(): void {
    this.read.totalExpired();
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/** Parses a JSON object body with messages a user can act on. */
export function parseJsonObject(raw: Buffer, contentType: string | undefined): Record<string, unknown> {
  const mediaType = (contentType ?? '').split(';')[0].trim().toLowerCase();
  if (mediaType !== 'application/json' && !/^application\/[\w.+-]+\+json$/.test(mediaType)) {
    throw invalidRequest(`content-type must be application/json, got '${contentType ?? '(none)'}'`);
  }
  if (raw.length === 0) throw invalidRequest('request body is empty; expected a JSON object');
  let text: string;
  try {
    text = utf8.decode(raw);
  } catch {
    throw invalidRequest('request body is not valid UTF-8');
  }
  if (nestingExceeds(text, MAX_DEPTH)) {
    throw invalidRequest(`request body nests objects or arrays deeper than ${MAX_DEPTH} levels`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw invalidRequest(`request body is not valid JSON: ${(err as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw invalidRequest('request body must be a JSON object');
  }
  return value as Record<string, unknown>;
}

/** Deeper JSON than this is refused: it is never a real request, and it would overflow the stack of JSON.stringify downstream. */
export const MAX_DEPTH = 256;

/** Whether brackets outside strings nest deeper than `max`. */
export function nestingExceeds(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92 /* \\ */) i++;
      else if (c === 34 /* " */) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 || c === 91) {
      if (++depth > max) return true;
    } else if (c === 125 || c === 93) depth--;
  }
  return false;
}

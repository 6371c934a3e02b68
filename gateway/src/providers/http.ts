import { Agent, errors as undiciErrors, request } from 'undici';
import type { Readable } from 'node:stream';
import type { Target } from '../core/routes';
import { redact, secretsOf } from './redact';
import { UpstreamFailure, type FailureKind } from '../core/upstream';
import { SseEventTooLarge } from '../core/sse';
import { DEFAULT_MAX_DURATION_SECONDS, exchangeDeadline } from './deadline';
import { reapingConnector } from './connector';
import { IdlePool } from './idle-pool';
import type { Cancellation } from '../core/cancellation';

export interface HttpResponse {
  status: number;
  headers: Record<string, string>;
  body: Readable & AsyncIterable<Buffer>;
}

/** Bounds on what the gateway buffers of an upstream's reply (gateway-wide settings). */
export interface UpstreamLimits {
  /** Largest single SSE event; past it the stream ends with an `error` event. */
  maxEventBytes: number;
  /** Largest non-streamed reply body; past it the attempt fails (502 api_error). */
  maxResponseBytes: number;
}

export const defaultUpstreamLimits: UpstreamLimits = { maxEventBytes: 4 * 1024 * 1024, maxResponseBytes: 32 * 1024 * 1024 };

/**
 * Keep-alive connection pools for upstreams. undici's Agent keeps one pool per origin (an
 * `IdlePool`: a free connection found in O(1), where undici's Pool scans every connection of the
 * origin); we keep one Agent per connect timeout so each target gets the connect timeout it asked for.
 */
export class UpstreamPools {
  private readonly agents = new Map<number, Agent>();

  constructor(readonly limits: UpstreamLimits = defaultUpstreamLimits) {}

  agent(connectTimeoutMs: number): Agent {
    let a = this.agents.get(connectTimeoutMs);
    if (!a) {
      const clientOptions = { connect: reapingConnector(connectTimeoutMs), keepAliveTimeout: 30_000, keepAliveMaxTimeout: 120_000, pipelining: 1 };
      a = new Agent({ factory: (origin) => new IdlePool(origin, clientOptions) });
      this.agents.set(connectTimeoutMs, a);
    }
    return a;
  }

  async close(): Promise<void> {
    await Promise.all([...this.agents.values()].map((a) => a.close().catch(() => undefined)));
    this.agents.clear();
  }
}

export interface SendOptions {
  url: string;
  method?: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: Buffer | string;
  signal: AbortSignal | Cancellation;
}

/**
 * One HTTP exchange with an upstream, with the target's timeouts; transport errors become
 * UpstreamFailure. The `maxDurationSeconds` deadline runs until the response body closes (read to
 * its end, or destroyed by whoever stops reading it).
 */
export async function httpSend(pools: UpstreamPools, target: Target, opts: SendOptions): Promise<HttpResponse> {
  const deadline = exchangeDeadline(opts.signal, target.maxDurationSeconds ?? DEFAULT_MAX_DURATION_SECONDS, () => targetName(target));
  try {
    const dispatcher = pools.agent(target.connectTimeoutSeconds * 1000);
    const parts = urlParts(opts.url);
    const options = {
      method: opts.method ?? 'POST',
      headers: opts.headers,
      body: opts.body,
      signal: deadline.signal,
      headersTimeout: target.timeoutSeconds * 1000,
      bodyTimeout: target.idleTimeoutSeconds * 1000,
    };
    const res = parts ? await dispatcher.request({ ...options, origin: parts.origin, path: parts.path }) : await request(opts.url, { ...options, dispatcher });
    res.body.on('close', deadline.clear);
    return { status: res.statusCode, headers: singleValued(res.headers), body: res.body as any };
  } catch (err) {
    deadline.clear();
    throw toFailure(err, target);
  }
}

/** What undici's `request(url)` takes from a URL: the pool's origin and the request target. */
interface UrlParts {
  origin: string;
  path: string;
}

const parsedUrls = new Map<string, UrlParts>();
/** Bounds the cache: the query string is the client's, so the URLs seen are not only the configuration's. */
const MAX_PARSED_URLS = 1000;

/**
 * undici's `request(url)` parses its URL string (`new URL`, a few µs, the largest part of that
 * wrapper) on every call to get the origin and path it hands to the dispatcher: the gateway sends
 * to a few URLs again and again, so they are parsed once, exactly as undici parses them. A URL
 * undici would refuse (not http(s), unparsable) is not kept, and goes through `request()` to
 * fail there as before.
 */
export function urlParts(url: string): UrlParts | undefined {
  let parts = parsedUrls.get(url);
  if (parts) return parts;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return undefined;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return undefined;
  parts = { origin: u.origin, path: u.search ? `${u.pathname}${u.search}` : u.pathname };
  if (parsedUrls.size >= MAX_PARSED_URLS) parsedUrls.clear();
  parsedUrls.set(url, parts);
  return parts;
}

/**
 * Response headers with one string per name (a repeated header's values joined with ", "). Most
 * replies repeat none, and then undici's own object is that already: no copy is made.
 */
export function singleValued(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  for (const k in headers) {
    const v = headers[k];
    if (typeof v === 'string') continue;
    const out: Record<string, string> = {};
    for (const name in headers) {
      const value = headers[name];
      if (value !== undefined) out[name] = Array.isArray(value) ? value.join(', ') : value;
    }
    return out;
  }
  return headers as Record<string, string>;
}

/**
 * Classifies undici and socket errors. Messages reach clients, so they name the target by provider
 * and model, never by address: the upstream's origin rides along in `origin` for the gateway's own
 * log. Upstream text that might quote a credential goes through the shared redaction policy.
 */
export function toFailure(err: unknown, target: Target): UpstreamFailure {
  if (err instanceof UpstreamFailure) return err;
  const e = err as NodeJS.ErrnoException & { code?: string; name?: string };
  const where = targetName(target);
  const fail = (kind: FailureKind, message: string) => new UpstreamFailure(kind, message, safeOrigin(target.baseURL));
  if (e instanceof SseEventTooLarge) return fail('too_large', `${where}: ${e.message}`);
  if (e?.name === 'AbortError' || e?.code === 'UND_ERR_ABORTED') return fail('aborted', `request to ${where} was aborted`);
  if (e instanceof undiciErrors.ConnectTimeoutError || e?.code === 'UND_ERR_CONNECT_TIMEOUT') {
    return fail('connect', `could not connect to ${where} within ${target.connectTimeoutSeconds}s`);
  }
  if (e instanceof undiciErrors.HeadersTimeoutError || e?.code === 'UND_ERR_HEADERS_TIMEOUT') {
    return fail('timeout', `${where} did not respond within ${target.timeoutSeconds}s`);
  }
  if (e instanceof undiciErrors.BodyTimeoutError || e?.code === 'UND_ERR_BODY_TIMEOUT') {
    return fail('idle_timeout', `${where} sent nothing for ${target.idleTimeoutSeconds}s`);
  }
  const code = e?.code ?? (e as any)?.cause?.code;
  if (['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET', 'EPIPE'].includes(code)) {
    return fail(code === 'ECONNRESET' || code === 'EPIPE' ? 'network' : 'connect', `${where}: ${code}`);
  }
  // undici's messages can carry the URL, and with it the internal address: that part is cut out.
  let what = String(e?.message ?? err).replace(/\b[a-z][a-z0-9+.-]*:\/\/[^\s'"<>)]+/gi, '(upstream)');
  const host = safeOrigin(target.baseURL).replace(/^[a-z]+:\/\//, '');
  if (host) what = what.split(host).join('(upstream)');
  what = redact(what, secretsOf(target));
  return fail('network', `${where}: ${typeof code === 'string' ? `${code} ` : ''}${what}`.trim());
}

/** How client-facing messages name a target: provider and upstream model, not where it lives. */
export function targetName(target: Target): string {
  return `${target.provider} target '${target.model}'`;
}

export function safeOrigin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '(invalid url)';
  }
}

/**
 * Collects a non-streamed response body, at most `maxBytes` of it: past that the body is
 * destroyed (the connection is dropped, not drained) and the attempt fails as `too_large`.
 */
export function readAll(res: HttpResponse, target: Target, maxBytes: number): Promise<Buffer> {
  const tooLarge = () =>
    new UpstreamFailure('too_large', `${targetName(target)} sent a reply larger than the gateway's limit of ${maxBytes} bytes`, safeOrigin(target.baseURL));
  const declared = Number(res.headers['content-length']);
  const body = res.body;
  if (declared > maxBytes) {
    body.destroy();
    return Promise.reject(tooLarge());
  }
  // Listeners rather than `for await`: an async iterator per reply (and its end-of-stream
  // watcher) cost more than the rest of reading a small body.
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = () => {
      body.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose);
    };
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > maxBytes) {
        done();
        // The connection is dropped, not drained; undici reports the destroy as an error nobody needs.
        body.on('error', () => undefined).destroy();
        reject(tooLarge());
        return;
      }
      chunks.push(c);
    };
    const onEnd = () => {
      done();
      resolve(Buffer.concat(chunks));
    };
    const onError = (err: unknown) => {
      done();
      reject(toFailure(err, target));
    };
    // Closed with neither an end nor an error: what `for await` reports as a premature close.
    const onClose = () => onError(Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
    body.on('data', onData).on('end', onEnd).on('error', onError).on('close', onClose);
  });
}

/** Joins a base URL and a path without doubling or dropping slashes. */
export function joinUrl(base: string, path: string): string {
  return base.replace(/\/+$/, '') + (path.startsWith('/') ? path : `/${path}`);
}

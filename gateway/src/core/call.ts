import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { FailureKind, StreamEvent } from './upstream';
import type { Admission, BudgetExceeded, RateLimited } from './limits';
import type { Cost } from './cost';
import type { ApiKey, Route, RoutingTable, Target } from './routes';

export interface Usage {
  input_tokens: number;
  output_tokens: number;
  cache_read_input_tokens: number;
  cache_creation_input_tokens: number;
  /** Of cache_creation_input_tokens, those written with a 1-hour TTL (`usage.cache_creation.ephemeral_1h_input_tokens`). */
  cache_creation_1h_input_tokens?: number;
}

export const zeroUsage = (): Usage => ({ input_tokens: 0, output_tokens: 0, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 });

/** Overwrites the counts an Anthropic `usage` object carries (message_delta counts are cumulative). */
export function mergeUsage(into: Usage, u: any): void {
  if (!u || typeof u !== 'object') return;
  for (const k of ['input_tokens', 'output_tokens', 'cache_read_input_tokens', 'cache_creation_input_tokens'] as const) {
    if (typeof u[k] === 'number') into[k] = u[k];
  }
  const hour = u.cache_creation?.ephemeral_1h_input_tokens;
  if (typeof hour === 'number') into.cache_creation_1h_input_tokens = hour;
}

export interface AttemptRecord {
  target: Target;
  /** 1-based position among the request's attempts. */
  n: number;
  startedAt: number;
  durationMs: number;
  /** ok: a reply the client gets; error: an upstream error status; failure: no HTTP reply. */
  outcome: 'ok' | 'error' | 'failure';
  status?: number;
  errorType?: string;
  failure?: FailureKind;
  retryable: boolean;
}

/**
 * Trace ids for the access log, without loading OpenTelemetry: the tracing observer (when on)
 * records the ids of the request's SERVER span; with tracing off the access log still carries the
 * trace id of the client's W3C `traceparent`, so log lines join the caller's traces.
 */
export interface TraceIds {
  traceId: string;
  spanId?: string;
}

export type Endpoint = 'messages' | 'count_tokens' | 'models' | 'probe' | 'other';

/**
 * Everything known about one client request, filled in as it moves through the middleware chain
 * and read once at the end by limits, metrics, traces and the access log.
 */
export class CallContext {
  readonly requestId = newRequestId();
  /** performance.now() at arrival; durations are measured from here. */
  readonly startedAt = performance.now();
  /** Date.now() at arrival (a number: a Date object per request would live as long as the request). */
  private readonly startMs: number;
  endpoint: Endpoint = 'other';
  /** Method, path (no query string) and headers as the client sent them; set before requestStart (traces read `traceparent`). */
  http?: { method: string; path: string; headers: IncomingHttpHeaders };
  table?: RoutingTable;
  key?: ApiKey;
  /** `namespace/name` of the ServiceAccount whose token authenticated the request (the key is then the ApiKey admitting it). */
  serviceAccount?: string;
  route?: Route;
  requestedModel?: string;
  body?: Record<string, any>;
  stream = false;
  /** The target whose reply the client got. */
  target?: Target;
  responseModel?: string;
  attempts: AttemptRecord[] = [];
  /** How many times the request moved on to a lower-priority group of targets. */
  fallbacks = 0;
  usage: Usage = zeroUsage();
  /** performance.now() when the first content delta was sent. */
  firstTokenAt?: number;
  stopReason?: string;
  /** The parsed JSON body of a non-streamed upstream reply (opt-in content capture reads the completion here). */
  responseBody?: any;
  /** Set by an observer that wants every streamed event (opt-in content capture); unset, it costs one check per event. */
  eventTap?: (ev: StreamEvent) => void;
  /** HTTP status the client got. */
  status = 0;
  errorType?: string;
  errorMessage?: string;
  /** The client went away before the response was complete. */
  clientAborted = false;
  /** The gateway ended the response itself (drain time ran out): not the client's doing, whatever the socket did. */
  cutByGateway = false;
  /** The gateway cut the client off because it stopped reading (write-stall deadline): the client's doing, but not a departure. */
  clientStalled = false;
  endedAt?: number;
  /** Told when the response closes, whether it finished (the messages handler's cancellation). */
  responseWatcher?: { responseClosed(finished: boolean): void };
  /** What the limiter let through; released exactly once when the request ends. */
  admission?: Admission;
  /** Set by the limiter when a rate limit refused the request (metrics, traces, access log). */
  rateLimited?: RateLimited;
  /** Set by the limiter when a budget refused the request (traces, access log). */
  budgetExceeded?: BudgetExceeded;
  /** The request's trace ids for the access log (telemetry/trace-ids.ts). */
  trace?: TraceIds;
  /** The target of the attempt in progress: finalTarget() falls back to it when the client left mid-attempt. */
  tryingTarget?: Target;
  /** The cost once the request has ended, computed once (core/cost.ts). */
  cost?: Cost;

  constructor(now: number) {
    this.startMs = now;
  }

  /** Wall-clock time of arrival. */
  get startTime(): Date {
    return new Date(this.startMs);
  }

  get durationMs(): number {
    return (this.endedAt ?? performance.now()) - this.startedAt;
  }

  get ttftMs(): number | undefined {
    return this.firstTokenAt === undefined ? undefined : this.firstTokenAt - this.startedAt;
  }
}

const ALPHABET = Buffer.from('0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz', 'latin1');

// Random bytes drawn from a 4 KiB pool: one randomBytes call per ~170 requests instead of one each.
let pool = Buffer.alloc(0);
let offset = 0;
// The id is spelled into these bytes and read out as one string: built with `+=`, it was a chain
// of ~16 cons strings (the ones past 12 characters), ~0.5 KiB held by every request for its life.
const idBytes = Buffer.from('req_' + '0'.repeat(24), 'latin1');

/** `req_` + 24 base62 characters, the shape Anthropic's request ids have. */
export function newRequestId(): string {
  if (offset + 24 > pool.length) {
    pool = randomBytes(4096);
    offset = 0;
  }
  for (let i = 0; i < 24; i++) idBytes[4 + i] = ALPHABET[pool[offset + i] % 62];
  offset += 24;
  return idBytes.toString('latin1', 0, 28);
}

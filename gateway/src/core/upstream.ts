import type { IncomingHttpHeaders } from 'node:http';
import type { BatchStream } from './batch-stream';
import type { Cancellation } from './cancellation';
import type { Target } from './routes';

/** What the core hands a provider adapter for one upstream attempt. */
export interface UpstreamCall {
  endpoint: 'messages' | 'count_tokens';
  /** The client's parsed, validated body (Anthropic Messages shape). Adapters must not mutate it. */
  body: Record<string, any>;
  /** The client's exact bytes, for pass-through adapters. */
  raw: Buffer;
  /** The client's query string including '?', or ''. */
  search: string;
  clientHeaders: IncomingHttpHeaders;
  target: Target;
  /**
   * Aborted when the client goes away or the gateway gives up on the attempt. On the core's calls
   * it is inherited, made on first read: a copy by spread (`{ ...call }`) does not carry it.
   */
  signal: AbortSignal;
  /** The same, without the cost of an AbortSignal (which `signal` makes on first use) when the core set it. */
  cancellation?: Cancellation;
  requestId: string;
  /** Headers the gateway adds to every upstream request (W3C trace context). */
  extraHeaders: Record<string, string>;
}

/**
 * One streamed event in Anthropic's grammar. Translating adapters fill `data`; the pass-through
 * adapter fills `raw` with the upstream's exact bytes and leaves `data` to be parsed on demand.
 */
export interface StreamEvent {
  event: string;
  data?: any;
  raw?: string;
}

/**
 * Events decoded from one upstream chunk. A pass-through adapter may attach the chunk's exact
 * bytes when they are precisely these events; the gateway then writes them verbatim.
 */
export type EventBatch = StreamEvent[] & { bytes?: Buffer };

export type UpstreamReply =
  /** A complete response: an Anthropic Message (2xx) or an Anthropic error envelope (non-2xx). */
  | { kind: 'json'; status: number; headers: Record<string, string>; body: any; raw?: Buffer }
  /**
   * A stream of Anthropic SSE events, in batches: one batch per upstream chunk, so a burst of
   * events costs one write to the client rather than one per event. Status is always 200 here.
   */
  | { kind: 'sse'; status: number; headers: Record<string, string>; events: BatchStream };

export interface ProviderAdapter {
  /** Sends one attempt. Throws UpstreamFailure for transport failures (connect, timeout). */
  send(call: UpstreamCall): Promise<UpstreamReply>;
}

/** `too_large`: the reply outgrew a gateway limit (maxEventBytes, maxUpstreamBodyBytes); not retried, the next try would be as large. */
export type FailureKind = 'connect' | 'timeout' | 'idle_timeout' | 'network' | 'aborted' | 'too_large';

/** A transport-level failure: no usable HTTP response came back. */
export class UpstreamFailure extends Error {
  /** `origin`: the upstream's address, for the gateway's log only (client-facing messages never carry it). */
  constructor(
    readonly kind: FailureKind,
    message: string,
    readonly origin?: string,
  ) {
    super(message);
    this.name = 'UpstreamFailure';
  }
}

/** Response headers worth relaying from any upstream to the client. */
export const RELAYED_HEADERS = ['retry-after', 'retry-after-ms', 'x-should-retry'];

import type { Readable } from 'node:stream';
import type { BatchStream } from '../core/batch-stream';
import type { SseEvent } from '../core/sse';
import type { StreamEvent, UpstreamCall } from '../core/upstream';

/**
 * The shape every provider fills in: one object per (Anthropic Messages in → upstream schema)
 * pair, in the spirit of Envoy AI Gateway's translators. Its methods are pure but for the
 * optional auth and signing hooks, so each can be tested against fixtures without a network; the
 * generic adapter (adapter.ts) runs any of them over HTTP. `S` is what the request translation
 * hands on to the reply translation of the same attempt (parsed options, a reply context).
 */
export interface Provider<S = undefined, F = SseEvent> {
  /**
   * The upstream request for one attempt: URL, the provider's own headers, body. Throws
   * TranslationError for what the target cannot serve (the adapter answers 400). Or an answer
   * the gateway works out itself without an upstream call (OpenAI's local token count).
   */
  request(call: UpstreamCall): OutgoingRequest<S> | LocalAnswer;

  /**
   * Adds the credential headers, after the target's configured headers and the trace headers.
   * Async for credentials that must be fetched (an OAuth access token); a sync provider returns
   * nothing, so the common path awaits nothing.
   */
  auth(call: UpstreamCall, headers: Record<string, string>, state: S): void | Promise<void>;

  /**
   * Sees the final URL, headers and body just before they are sent, and may add headers (AWS
   * SigV4 signs the body and the headers). Absent for providers that do not sign.
   */
  sign?(req: OutgoingRequest<S>, call: UpstreamCall): void | Promise<void>;

  /** The upstream response headers relayed to the client on a 2xx reply (request ids, retry hints). */
  responseHeaders(headers: Record<string, string>): Record<string, string>;

  /**
   * A 2xx JSON body (object or array; non-JSON is the adapter's 502) → an Anthropic Message, a
   * token count or an error envelope. For a stream request the adapter replays a 200 Message as
   * stream events (anthropic/message-events.ts); a provider with its own replay returns `events`.
   */
  response(body: any, state: S, call: UpstreamCall, res: { status: number; raw: Buffer }): JsonAnswer | { events: StreamEvent[] };

  /** A non-2xx reply → the Anthropic error the client gets (status mapped, credentials redacted). */
  errorReply(status: number, headers: Record<string, string>, raw: Buffer, call: UpstreamCall): JsonAnswer;

  /** The content type of the upstream's stream replies (default text/event-stream). */
  streamContentType?: string;

  /** Splits a streamed body into frames (default: SSE events, capped at the gateway's maxEventBytes). */
  decoder?: StreamDecoder<F>;

  /** A fresh translator of upstream frames → Anthropic events, one per streamed attempt. */
  streamTranslator?(state: S, call: UpstreamCall): StreamTranslator<F>;

  /**
   * Replaces the decode-and-translate loop for a provider that relays the upstream's own events
   * (Anthropic's byte-for-byte pass-through). It turns transport errors into UpstreamFailure
   * itself (toFailure), so the hot path carries no extra generator layer.
   */
  relay?(body: Readable, call: UpstreamCall, maxEventBytes: number): BatchStream;
}

export interface UpstreamRequest {
  url: string;
  headers: Record<string, string>;
  body: Buffer | string;
}

export interface OutgoingRequest<S> extends UpstreamRequest {
  state: S;
}

export interface LocalAnswer {
  local: Promise<JsonAnswer>;
}

/** A complete reply: an Anthropic Message or token count (2xx) or error envelope. `raw`: bytes to relay as they are. */
export interface JsonAnswer {
  status: number;
  headers?: Record<string, string>;
  body: any;
  raw?: Buffer;
}

/**
 * Makes a stream's frame decoder: upstream bytes → frames, chunk by chunk as they arrive, so a
 * burst costs one client write. `push` may throw (an oversized frame: SseEventTooLarge); frames it
 * returned are translated and sent before `failure`, when set, ends the stream.
 */
export type StreamDecoder<F> = (maxEventBytes: number) => FrameDecoder<F>;

export interface FrameDecoder<F> {
  /** The frames this chunk completes. */
  push(chunk: Buffer): F[];
  /** The body ended: what was left (or an error frame, for a frame cut short). */
  end(): F[];
  /** Set when the stream cannot go on after the frames `push` returned (thrown after they are sent). */
  readonly failure?: unknown;
}

/**
 * One streamed attempt's translation, frame by frame, into Anthropic events. Per request, never
 * shared. It must end what it started: message_stop, or an `error` event for a stream cut short.
 */
export interface StreamTranslator<F = SseEvent> {
  /** The events for one decoded upstream frame. */
  frame(f: F): StreamEvent[];
  /** The upstream body ended: the closing events, or an error if the answer was cut short. */
  end(): StreamEvent[];
  /** message_stop or an error has been emitted; nothing more will be. */
  readonly finished: boolean;
}

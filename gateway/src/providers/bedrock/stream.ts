import { EventStreamCodec } from '@smithy/eventstream-codec';
import type { Message } from '@smithy/types';
import { fromUtf8, toUtf8 } from '@smithy/util-utf8';
import { formatEvent, SseEventTooLarge } from '../../core/sse';
import { mapBedrockError, type MappedError } from './errors';

/**
 * Bedrock's `application/vnd.amazon.eventstream` reply → Anthropic stream events. Each frame is
 * decoded (CRC-checked) by @smithy/eventstream-codec; the framing is done here because the codec
 * only takes whole frames and TCP splits them anywhere.
 */

/** Bedrock's per-call counts, attached to the last chunk; the source of usage when the events lack it. */
export interface InvocationMetrics {
  inputTokenCount?: number;
  outputTokenCount?: number;
  invocationLatency?: number;
  firstByteLatency?: number;
  cacheReadInputTokenCount?: number;
  cacheWriteInputTokenCount?: number;
}

export type BedrockStreamItem =
  /** One Anthropic stream event, `amazon-bedrock-invocationMetrics` removed. */
  | { kind: 'event'; type: string; data: Record<string, unknown> }
  /** Terminal: an exception frame or a corrupt stream. Nothing follows it. */
  | { kind: 'error'; error: MappedError };

const STATUS_BY_TYPE: Partial<Record<MappedError['type'], number>> = {
  invalid_request_error: 400,
  authentication_error: 401,
  permission_error: 403,
  not_found_error: 404,
  request_too_large: 413,
  rate_limit_error: 429,
  api_error: 500,
  timeout_error: 504,
  overloaded_error: 529,
};

const PRELUDE = 12;
const MIN_FRAME = 16;
/** Bedrock chunks are single events (a few KB); a larger length prefix means a corrupt stream. */
export const DEFAULT_MAX_FRAME_BYTES = 1024 * 1024;

export class BedrockStreamDecoder {
  private readonly codec = new EventStreamCodec(toUtf8, fromUtf8);
  private buf: Buffer = Buffer.alloc(0);
  private done = false;
  /** A frame past maxFrameBytes was announced: everything from here on throws SseEventTooLarge. */
  tooLarge = false;
  metrics: InvocationMetrics | undefined;

  constructor(
    private readonly maxFrameBytes = DEFAULT_MAX_FRAME_BYTES,
    private readonly secrets: readonly string[] = [],
  ) {}

  /** Bytes as they arrive → the complete items they finish. Throws SseEventTooLarge for a frame longer than maxFrameBytes. */
  push(chunk: Uint8Array): BedrockStreamItem[] {
    if (this.tooLarge) throw new SseEventTooLarge(this.maxFrameBytes);
    if (this.done) return [];
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : Buffer.from(chunk);
    const out: BedrockStreamItem[] = [];
    while (!this.done && this.buf.length >= PRELUDE) {
      const total = this.buf.readUInt32BE(0);
      // Past the gateway's cap, as an SSE event past maxEventBytes: a too_large failure, not
      // retried (the next try would be as large), and the connection dropped unread.
      if (total > this.maxFrameBytes) {
        this.done = true;
        this.tooLarge = true;
        // The events before it in this chunk are still delivered; the next push or end throws.
        if (out.length) return out;
        throw new SseEventTooLarge(this.maxFrameBytes);
      }
      if (total < MIN_FRAME) {
        out.push(this.fail(`frame length ${total} is below the minimum of ${MIN_FRAME}`));
        break;
      }
      if (this.buf.length < total) break;
      const frame = this.buf.subarray(0, total);
      this.buf = this.buf.subarray(total);
      let message: Message;
      try {
        message = this.codec.decode(frame);
      } catch (err) {
        out.push(this.fail((err as Error).message));
        break;
      }
      const item = this.item(message);
      if (item) out.push(item);
    }
    return out;
  }

  /** The upstream closed: bytes of an unfinished frame mean it was cut. */
  end(): BedrockStreamItem[] {
    if (this.tooLarge) throw new SseEventTooLarge(this.maxFrameBytes);
    if (this.done || this.buf.length === 0) return [];
    return [this.fail(`stream ended inside a frame (${this.buf.length} bytes left)`)];
  }

  private item(message: Message): BedrockStreamItem | undefined {
    const h = (name: string) => {
      const v = message.headers[name];
      return v && v.type === 'string' ? v.value : undefined;
    };
    const messageType = h(':message-type');
    const body = toUtf8(message.body);
    if (messageType === 'exception' || messageType === 'error') {
      this.done = true;
      let parsed: unknown = body;
      try {
        parsed = JSON.parse(body);
      } catch {
        /* a bare-text message is used as is */
      }
      const name = h(':exception-type') ?? h(':error-code');
      return { kind: 'error', error: mapBedrockError(200, name ?? 'modelStreamErrorException', parsed, this.secrets) };
    }
    if (messageType !== 'event' || h(':event-type') !== 'chunk') return undefined;
    let event: Record<string, unknown>;
    try {
      const wrapper = JSON.parse(body) as { bytes?: unknown };
      if (typeof wrapper.bytes !== 'string') throw new Error('chunk without bytes');
      event = JSON.parse(Buffer.from(wrapper.bytes, 'base64').toString('utf8'));
      if (!event || typeof event !== 'object' || typeof event.type !== 'string') throw new Error('chunk is not an Anthropic event');
    } catch (err) {
      return this.fail((err as Error).message);
    }
    if (event.type === 'error') {
      // Anthropic's own mid-stream error (overloaded…) arrives inside a chunk: terminal, type kept.
      this.done = true;
      const e = (event.error ?? {}) as { type?: unknown; message?: unknown };
      const type = (typeof e.type === 'string' ? e.type : 'api_error') as MappedError['type'];
      return {
        kind: 'error',
        error: { status: STATUS_BY_TYPE[type] ?? 500, type, message: typeof e.message === 'string' ? e.message : 'Bedrock stream error' },
      };
    }
    const metrics = event['amazon-bedrock-invocationMetrics'];
    if (metrics && typeof metrics === 'object') {
      this.metrics = metrics as InvocationMetrics;
      delete event['amazon-bedrock-invocationMetrics'];
    }
    return { kind: 'event', type: event.type as string, data: event };
  }

  private fail(reason: string): BedrockStreamItem {
    this.done = true;
    return { kind: 'error', error: { status: 502, type: 'api_error', message: `Bedrock event stream is corrupt: ${reason}` } };
  }
}

/** An item as the SSE text the client gets (an `error` event for a failure). */
export function toSse(item: BedrockStreamItem): string {
  if (item.kind === 'event') return formatEvent(item.type, item.data);
  return formatEvent('error', { type: 'error', error: { type: item.error.type, message: item.error.message } });
}

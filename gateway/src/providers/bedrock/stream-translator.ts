import { envelope } from '../../core/errors';
import { SseEventTooLarge } from '../../core/sse';
import type { StreamEvent } from '../../core/upstream';
import { redact } from '../redact';
import type { StreamDecoder, StreamTranslator } from '../translator';
import { BedrockStreamDecoder, DEFAULT_MAX_FRAME_BYTES, type BedrockStreamItem, type InvocationMetrics } from './stream';

/** A decoded event-stream item; `message_stop` carries the invocation metrics stripped from it. */
export type BedrockFrame = BedrockStreamItem & { metrics?: InvocationMetrics };

/**
 * A chunk frame wraps one event in base64 plus padding, so a frame is about 4/3 of its event:
 * the cap on frames follows the gateway's cap on events (maxEventBytes) with room for that.
 */
const FRAME_OVERHEAD = 4096;
export const frameLimit = (maxEventBytes: number) => (Number.isFinite(maxEventBytes) ? Math.ceil(maxEventBytes / 3) * 4 + FRAME_OVERHEAD : undefined);

/** Bedrock's binary event stream → items, chunk by chunk; a frame cut by the end of the body is an error item. */
export const bedrockDecoder: StreamDecoder<BedrockFrame> = (maxEventBytes) => {
  const limit = frameLimit(maxEventBytes) ?? DEFAULT_MAX_FRAME_BYTES;
  const d = new BedrockStreamDecoder(limit);
  return {
    push(chunk) {
      const items: BedrockFrame[] = d.push(chunk);
      const stop = items.findIndex((i) => i.kind === 'event' && i.type === 'message_stop');
      if (stop >= 0 && d.metrics) items[stop] = { ...items[stop], metrics: d.metrics };
      return items;
    },
    end: () => d.end(),
    // The frame after the ones returned is past the cap: fail once they are sent rather than wait for more of it.
    get failure() {
      return d.tooLarge ? new SseEventTooLarge(limit) : undefined;
    },
  };
};

const COUNTS = ['input_tokens', 'output_tokens', 'cache_read_input_tokens', 'cache_creation_input_tokens'] as const;
const FROM_METRICS: Record<(typeof COUNTS)[number], keyof InvocationMetrics> = {
  input_tokens: 'inputTokenCount',
  output_tokens: 'outputTokenCount',
  cache_read_input_tokens: 'cacheReadInputTokenCount',
  cache_creation_input_tokens: 'cacheWriteInputTokenCount',
};

/**
 * Decoded items → Anthropic events. The events are Anthropic's own, relayed as they are; what
 * this adds: exception frames become the `error` event (redacted), a body that ends before
 * `message_stop` ends with an error, and usage missing from the events is taken from the
 * invocation metrics. Those arrive on `message_stop`, after `message_delta`, so `message_delta`
 * is held back until `message_stop` and completed there; the gateway's usage accounting reads
 * message_start and message_delta, as for every provider.
 */
export class BedrockStreamTranslator implements StreamTranslator<BedrockFrame> {
  finished = false;
  private held: Record<string, any> | undefined;
  private readonly started = new Set<string>();

  constructor(
    private readonly secrets: readonly string[],
    private readonly requestId: string,
  ) {}

  frame(f: BedrockFrame): StreamEvent[] {
    if (this.finished) return [];
    if (f.kind === 'error') {
      this.finished = true;
      return [...this.release(), { event: 'error', data: envelope(f.error.type, redact(f.error.message, this.secrets), this.requestId) }];
    }
    switch (f.type) {
      case 'message_start':
        for (const k of COUNTS) if (typeof (f.data as any).message?.usage?.[k] === 'number') this.started.add(k);
        break;
      case 'message_delta':
        this.held = f.data;
        return [];
      case 'message_stop':
        this.finished = true;
        return [...this.release(f.metrics), { event: 'message_stop', data: f.data }];
    }
    return [...this.release(), { event: f.type, data: f.data }];
  }

  end(): StreamEvent[] {
    if (this.finished) return [];
    this.finished = true;
    return [...this.release(), { event: 'error', data: envelope('api_error', 'the Bedrock stream ended before message_stop (cut short)', this.requestId) }];
  }

  /**
   * The held message_delta, its missing counts filled from the metrics: output tokens whenever
   * the delta lacks them (message_start's is a placeholder), the others only if message_start
   * did not report them either.
   */
  private release(metrics?: InvocationMetrics): StreamEvent[] {
    const d = this.held;
    if (!d) return [];
    this.held = undefined;
    if (metrics) {
      const usage = { ...(d.usage ?? {}) };
      for (const k of COUNTS) {
        const v = metrics[FROM_METRICS[k]];
        if (typeof v === 'number' && typeof usage[k] !== 'number' && (k === 'output_tokens' || !this.started.has(k))) usage[k] = v;
      }
      return [{ event: 'message_delta', data: { ...d, usage } }];
    }
    return [{ event: 'message_delta', data: d }];
  }
}

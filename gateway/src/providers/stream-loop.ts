import { readSse, type SseEvent } from '../core/sse';
import type { StreamDecoder, StreamTranslator } from './translator';
import type { StreamEvent } from '../core/upstream';

/** The default framing: SSE events, one batch per chunk received, each event capped at maxEventBytes. */
export const sseDecoder: StreamDecoder<SseEvent> = readSse;

/**
 * An upstream stream body as batches of Anthropic events: decode frames, translate each, one
 * batch per chunk received. After an error nothing more is translated, so reading stops and the
 * connection is dropped; after a clean finish the rest of the body is read, so the connection
 * can be reused. Transport errors and an oversized frame (SseEventTooLarge) propagate.
 */
export async function* translateStream<F>(
  body: AsyncIterable<Buffer>,
  t: StreamTranslator<F>,
  maxEventBytes = Infinity,
  decoder: StreamDecoder<F> = sseDecoder as any,
): AsyncGenerator<StreamEvent[]> {
  for await (const frames of decoder(body, maxEventBytes)) {
    const out: StreamEvent[] = [];
    for (const f of frames) {
      if (t.finished) break;
      for (const e of t.frame(f)) out.push(e);
    }
    if (out.length) yield out;
    if (t.finished && out.some((e) => e.event === 'error')) return;
  }
  const tail = t.end();
  if (tail.length) yield tail;
}

import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import type { BatchStream } from '../core/batch-stream';
import type { Target } from '../core/routes';
import { SseParser, type SseEvent } from '../core/sse';
import type { StreamEvent } from '../core/upstream';
import { BodyReader } from './body-reader';
import type { FrameDecoder, StreamDecoder, StreamTranslator } from './translator';

/** The default framing: SSE events, each capped at maxEventBytes (`raw` left empty: translators read `event` and `data`). */
export const sseDecoder: StreamDecoder<SseEvent> = (maxEventBytes) => new SseFrames(maxEventBytes);

class SseFrames implements FrameDecoder<SseEvent> {
  private readonly text = new StringDecoder('utf8');
  private readonly parser: SseParser;
  private first = true;

  constructor(maxEventBytes: number) {
    this.parser = new SseParser(maxEventBytes, false);
  }

  push(chunk: Buffer): SseEvent[] {
    let text = this.text.write(chunk);
    // A leading byte-order mark is not part of the first field name (SSE drops it, as TextDecoder did).
    if (this.first && text !== '') {
      this.first = false;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    return this.parser.push(text);
  }

  end(): SseEvent[] {
    return [...this.parser.push(this.text.end()), ...this.parser.flush()];
  }
}

/**
 * An upstream stream body as batches of Anthropic events, pushed as chunks arrive: decode frames,
 * translate each, one batch per chunk. After an error nothing more is translated, so reading stops
 * and the connection is dropped; after a clean finish the rest of the body is read, so the
 * connection can be reused. Transport errors, an oversized frame (SseEventTooLarge) and a
 * decoder's `failure` end the stream as UpstreamFailures (toFailure).
 */
export function translateStream<F>(
  body: Readable,
  t: StreamTranslator<F>,
  target: Target,
  maxEventBytes = Infinity,
  decoder: StreamDecoder<F> = sseDecoder as any,
): BatchStream {
  return new Translation(body, t, decoder(maxEventBytes), target).stream;
}

class Translation<F> extends BodyReader {
  constructor(
    body: Readable,
    private readonly t: StreamTranslator<F>,
    private readonly frames: FrameDecoder<F>,
    target: Target,
  ) {
    super(body, target);
  }

  protected chunk(chunk: Buffer): void {
    if (this.done) return;
    if (this.t.finished) return; // finished cleanly: the rest is read for the connection's sake
    try {
      const out = this.translate(this.frames.push(chunk));
      if (out.length) this.stream.push(out);
      if (this.t.finished && out.some((e) => e.event === 'error')) {
        this.done = true;
        this.stream.end();
        this.body.destroy();
        return;
      }
      if (this.frames.failure !== undefined) throw this.frames.failure;
    } catch (err) {
      this.failAndDrop(err);
    }
  }

  protected end(): void {
    if (this.done) return;
    try {
      const out = this.t.finished ? [] : this.translate(this.frames.end());
      if (!this.t.finished) for (const e of this.t.end()) out.push(e);
      if (out.length) this.stream.push(out);
    } catch (err) {
      return this.fail(err);
    }
    this.done = true;
    this.stream.end();
  }

  private translate(frames: F[]): StreamEvent[] {
    const out: StreamEvent[] = [];
    for (const f of frames) {
      if (this.t.finished) break;
      for (const e of this.t.frame(f)) out.push(e);
    }
    return out;
  }
}

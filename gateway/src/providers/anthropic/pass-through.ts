import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import type { BatchStream } from '../../core/batch-stream';
import { envelope } from '../../core/errors';
import { SseParser, type SseEvent } from '../../core/sse';
import { UpstreamFailure, type EventBatch, type StreamEvent, type UpstreamCall } from '../../core/upstream';
import { BodyReader } from '../body-reader';
import { targetName } from '../http';
import { redact, secretsOf } from '../redact';

/**
 * The upstream's events, byte for byte when they are well formed. Each event is checked just
 * enough to keep a broken one from reaching the client's SDK (which would throw a parse error
 * and leave the gateway counting a success): its data must be a JSON object whose `type` is the
 * event's name. The check is a prefix test for the `{"type":"<event>"…}` Anthropic writes, and a
 * parse only for anything else. A broken event ends the stream with an UpstreamFailure, which
 * the relay turns into an `error` event. `error` events are parsed and redacted (../redact).
 */
export function passThrough(body: Readable, call: UpstreamCall, maxEventBytes: number): BatchStream {
  return new PassThrough(body, call, maxEventBytes).stream;
}

/** Each chunk of the body becomes a batch: its events checked, its bytes relayed as they are when they are exactly those events. */
class PassThrough extends BodyReader {
  // StringDecoder, not TextDecoder: each TextDecoder opens an ICU converter, ~10 µs per stream.
  // Made only when a chunk ends inside a character: each holds a Buffer of its own (a typed array,
  // its ArrayBuffer and backing store), and an upstream's chunks nearly always end on an event's
  // blank line.
  private decoder: StringDecoder | undefined;
  private first = true;
  private readonly parser: SseParser;
  private readonly secrets: readonly string[];
  private broken: string | undefined;

  // Only the call's target is kept (by BodyReader): the attempt's call, its trace headers and its
  // references to the client's body and headers are not needed once the request has gone out.
  constructor(body: Readable, call: UpstreamCall, maxEventBytes: number) {
    super(body, call.target);
    this.parser = new SseParser(maxEventBytes);
    this.secrets = secretsOf(call.target);
  }

  protected chunk(chunk: Buffer): void {
    if (this.done) return;
    let batch: EventBatch;
    try {
      const aligned = this.parser.idle;
      const events = this.parser.push(this.text(chunk));
      batch = this.batchOf(events);
      // A chunk that starts and ends on event boundaries is exactly its events: relay its bytes.
      if (aligned && this.parser.idle && !this.broken && batch.length === events.length && batch.every((e) => e.data === undefined)) batch.bytes = chunk;
    } catch (err) {
      // An event past maxEventBytes: the stream cannot go on, and the connection is dropped.
      return this.failAndDrop(err);
    }
    if (batch.length) this.stream.push(batch);
    if (this.broken) this.failAndDrop(this.malformed());
  }

  /** The chunk as text, a character split across chunks held back until it is whole; a leading BOM dropped as TextDecoder would. */
  private text(chunk: Buffer): string {
    // A chunk ending in an ASCII byte ends on a character boundary: with nothing carried over from
    // the one before, it decodes alone exactly as the StringDecoder would decode it.
    const text =
      this.decoder === undefined && (chunk.length === 0 || chunk[chunk.length - 1] < 0x80)
        ? chunk.toString('utf8')
        : (this.decoder ??= new StringDecoder('utf8')).write(chunk);
    if (!this.first || text === '') return text;
    this.first = false;
    return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  }

  protected end(): void {
    if (this.done) return;
    let tail: EventBatch;
    try {
      tail = this.batchOf([...this.parser.push(this.decoder?.end() ?? ''), ...this.parser.flush()]);
    } catch (err) {
      return this.fail(err);
    }
    if (tail.length) this.stream.push(tail);
    if (this.broken) return this.fail(this.malformed());
    this.done = true;
    this.stream.end();
  }

  private malformed(): UpstreamFailure {
    return new UpstreamFailure('network', `${targetName(this.target)} sent a malformed stream event: ${redact(this.broken!, this.secrets)}`);
  }

  private batchOf(events: SseEvent[]): EventBatch {
    const batch: EventBatch = [];
    for (const ev of events) {
      // Comment-only keep-alives are dropped: the gateway sends its own pings.
      if (ev.event === '' && ev.data === '') continue;
      const problem = checkEvent(ev);
      if (problem) {
        this.broken = problem;
        break;
      }
      batch.push(ev.event === 'error' ? errorEvent(ev, this.secrets) : { event: ev.event, raw: ev.raw });
    }
    return batch;
  }
}

const TYPE_PREFIX = '{"type":"';

/** Why an event is not one a client can parse, or undefined. */
function checkEvent(ev: SseEvent): string | undefined {
  const { event, data } = ev;
  if (event === 'ping') return undefined;
  // No string is built for the test: it runs on every event of every stream.
  if (
    event &&
    data.startsWith(TYPE_PREFIX) &&
    data.startsWith(event, TYPE_PREFIX.length) &&
    data.charCodeAt(TYPE_PREFIX.length + event.length) === 0x22 &&
    data.charCodeAt(data.length - 1) === 0x7d
  )
    return undefined;
  let parsed: any;
  try {
    parsed = JSON.parse(data);
  } catch {
    return `${event || '(unnamed)'} event whose data is not JSON: ${data.slice(0, 100)}`;
  }
  if (!parsed || typeof parsed !== 'object' || typeof parsed.type !== 'string') return `${event || '(unnamed)'} event whose data has no type`;
  if (event && parsed.type !== event) return `${event} event whose data has type ${parsed.type.slice(0, 50)}`;
  return undefined;
}

/** An upstream `error` event (already checked to be a JSON object), with any credential it quotes redacted. */
function errorEvent(ev: SseEvent, secrets: readonly string[]): StreamEvent {
  const clean = redact(ev.data, secrets);
  if (clean === ev.data) return { event: 'error', raw: ev.raw };
  try {
    return { event: 'error', data: JSON.parse(clean) };
  } catch {
    return { event: 'error', data: envelope('api_error', clean.slice(0, 500), null) };
  }
}

import { envelope } from '../../core/errors';
import type { SseEvent } from '../../core/sse';
import type { StreamTranslator as Translator } from '../translator';
import type { StreamEvent } from '../../core/upstream';
import { BlockSequencer } from './blocks';
import { ContentFrames } from './content-frames';
import { messageStopEvent } from '../event-wire';
import { streamErrorMessage, streamErrorType } from './errors';
import { messageId } from './ids';
import type { ChatCompletionChunk, Usage } from './wire';
import { redact } from '../redact';
import { argumentsOf, firstChoice, isFailedFinish, reasoningOf, textOf, toStop, toUsage, type ReplyContext } from './response';

/**
 * One streamed Chat Completion, chunk by chunk, as Anthropic events. Per request, never shared.
 * The message ends (message_delta, message_stop) at `[DONE]`, or when the body ends after a
 * finish_reason, because OpenAI sends usage in a chunk *after* the one with finish_reason.
 * A stream that ends with neither is a failure, never a quiet end_turn.
 */
export class StreamTranslator implements Translator {
  private readonly out: StreamEvent[] = [];
  private blocks?: BlockSequencer;
  private finish: unknown = null;
  private matched: unknown;
  private usage: Usage | null | undefined;
  private refused = false;
  /** The shape of this stream's plain text frames, once one has been seen (content-frames.ts). */
  private shape?: ContentFrames;
  /** Frames left to learn it from: a stream whose frames never fit stops trying. */
  private learning = 8;
  /** message_stop or error has been emitted; nothing more is. */
  ended = false;

  constructor(
    private readonly ctx: ReplyContext,
    private readonly secrets: readonly string[] = [],
  ) {}

  get finished(): boolean {
    return this.ended;
  }

  /**
   * One SSE event. Comment lines (`: keep-alive`) are skipped: the gateway sends its own pings.
   * `data: [DONE]` ends the message; data that is not JSON ends it with an error.
   */
  frame(ev: SseEvent): StreamEvent[] {
    const data = ev.data.trim();
    if (!data) return [];
    if (data === '[DONE]') return this.done();
    const isError = ev.event === 'error';
    if (this.shape && !isError && this.blocks && !this.ended) {
      const text = this.shape.content(data);
      if (text !== undefined) {
        this.blocks.text(text);
        return this.drain();
      }
    }
    let chunk: any;
    try {
      chunk = JSON.parse(data);
    } catch {
      return this.fail('api_error', `upstream sent a stream event that is not JSON: ${this.redact(data.slice(0, 100))}`);
    }
    if (isError) return this.upstreamError(chunk?.error ?? chunk);
    const out = this.chunk(chunk);
    if (!this.shape && this.blocks && !this.ended && --this.learning >= 0) this.shape = ContentFrames.learn(data, chunk);
    return out;
  }

  /** One parsed `data:` object. */
  chunk(c: ChatCompletionChunk): StreamEvent[] {
    if (this.ended) return [];
    if (c?.error) return this.upstreamError(c.error);
    if (c?.usage) this.usage = c.usage;
    const choice = firstChoice(c?.choices);
    // Azure opens with a prompt-filter chunk that has no choices, id or model: not yet the message.
    if (!this.blocks && (choice || c?.usage)) this.start(c);
    if (choice && this.blocks) {
      const d = choice.delta ?? {};
      this.blocks.thinking(reasoningOf(d));
      this.blocks.text(textOf(d.content));
      const refusal = textOf(d.refusal);
      if (refusal) {
        this.refused = true;
        this.blocks.text(refusal);
      }
      if (Array.isArray(d.tool_calls)) {
        d.tool_calls.forEach((tc: any, i: number) =>
          this.blocks!.tool(typeof tc?.index === 'number' ? tc.index : i, tc?.id, tc?.function?.name, argumentsOf(tc?.function?.arguments)),
        );
      }
      if (choice.finish_reason) {
        if (isFailedFinish(choice.finish_reason)) return this.fail('api_error', `upstream stopped generating (finish_reason '${choice.finish_reason}')`);
        this.finish = choice.finish_reason;
        this.matched = choice.stop_reason;
        this.blocks.finish(); // close blocks now; usage, and with it message_delta, comes later
      }
    }
    return this.drain();
  }

  /** `data: [DONE]`. */
  done(): StreamEvent[] {
    if (this.ended) return [];
    if (!this.blocks) this.start({});
    this.blocks!.finish();
    const stop =
      this.refused && (this.finish === 'stop' || this.finish === null)
        ? { stop_reason: 'refusal', stop_sequence: null }
        : toStop(this.finish, this.blocks!.sawToolCall, this.matched, this.ctx);
    this.out.push(
      { event: 'message_delta', data: { type: 'message_delta', delta: { ...stop, stop_details: null }, usage: toUsage(this.usage) } },
      messageStopEvent(),
    );
    this.ended = true;
    return this.drain();
  }

  /** The upstream body ended. */
  end(): StreamEvent[] {
    if (this.ended) return [];
    if (this.finish) return this.done();
    return this.fail('api_error', 'upstream stream ended before a finish_reason or [DONE]');
  }

  /** Upstream text on its way to the client, through the shared redaction policy. */
  redact(text: string): string {
    return redact(text, this.secrets);
  }

  fail(type: string, message: string): StreamEvent[] {
    if (this.ended) return [];
    this.out.push({ event: 'error', data: envelope(type, message, null) });
    this.ended = true;
    return this.drain();
  }

  upstreamError(err: unknown): StreamEvent[] {
    return this.fail(streamErrorType(err), streamErrorMessage(err, this.secrets));
  }

  private start(c: any): void {
    const message = {
      id: messageId(c?.id),
      type: 'message',
      role: 'assistant',
      model: typeof c?.model === 'string' && c.model ? c.model : this.ctx.model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      stop_details: null,
      // Chat Completions reports usage only at the end; message_delta carries the real counts.
      usage: { input_tokens: 0, output_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
    };
    this.out.push({ event: 'message_start', data: { type: 'message_start', message } });
    this.blocks = new BlockSequencer(this.out, String(c?.id ?? message.id));
  }

  private drain(): StreamEvent[] {
    return this.out.splice(0);
  }
}

/**
 * A complete Message as the events a stream of it would have produced, for a server that answered
 * a stream request with JSON. Not the general replay (anthropic/message-events.ts): thinking here
 * never carries a signature, and message_start reports zero usage as a Chat Completions stream does.
 */
export function replayMessage(m: Record<string, any>): StreamEvent[] {
  const events: StreamEvent[] = [
    {
      event: 'message_start',
      data: {
        type: 'message_start',
        message: {
          ...m,
          content: [],
          stop_reason: null,
          stop_sequence: null,
          usage: { ...m.usage, input_tokens: 0, output_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
        },
      },
    },
  ];
  (m.content as any[]).forEach((b, index) => {
    const start =
      b.type === 'text' ? { type: 'text', text: '' } : b.type === 'thinking' ? { type: 'thinking', thinking: '', signature: '' } : { ...b, input: {} };
    const delta =
      b.type === 'text'
        ? { type: 'text_delta', text: b.text }
        : b.type === 'thinking'
          ? { type: 'thinking_delta', thinking: b.thinking }
          : { type: 'input_json_delta', partial_json: JSON.stringify(b.input) };
    events.push(
      { event: 'content_block_start', data: { type: 'content_block_start', index, content_block: start } },
      { event: 'content_block_delta', data: { type: 'content_block_delta', index, delta } },
      { event: 'content_block_stop', data: { type: 'content_block_stop', index } },
    );
  });
  events.push(
    {
      event: 'message_delta',
      data: { type: 'message_delta', delta: { stop_reason: m.stop_reason, stop_sequence: m.stop_sequence, stop_details: null }, usage: m.usage },
    },
    { event: 'message_stop', data: { type: 'message_stop' } },
  );
  return events;
}

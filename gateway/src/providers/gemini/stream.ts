import { envelope } from '../../core/errors';
import type { SseEvent } from '../../core/sse';
import { parseJson } from '../json';
import type { StreamTranslator as Translator } from '../translator';
import type { StreamEvent } from '../../core/upstream';
import { blockStartEvent, blockStopEvent, deltaEvent, messageStopEvent } from '../event-wire';
import { streamErrorData } from './errors';
import { encodeSignature, encodeToolUseId, messageId } from './ids';
import { toOutcome, toUsage } from './outcome';
import type { GenerateContentResponse, Part, UsageMetadata } from './wire';

export interface StreamContext {
  /** The target's model id: thought signatures are stored with it and only replayed to it. */
  model: string;
  /**
   * Whether signatures found on non-thought parts are handed to the client (as empty thinking
   * blocks, see below). Only when the request asked for thinking: such signatures are optional
   * for Gemini, and a client that did not ask for thinking may not expect thinking blocks.
   */
  textSignatures: boolean;
  /** The target's credentials (see secretsOf), kept out of any upstream message relayed to the client. */
  secrets: readonly string[];
  requestId: string | null;
}

type OpenBlock = { kind: 'text' | 'thinking'; index: number; signature?: string };

/**
 * One request's translation of Gemini response chunks into Anthropic stream events. Each chunk
 * carries only new parts; the translator keeps the open block and the running usage.
 *
 * - Consecutive text parts form one text block, consecutive thought parts one thinking block.
 * - A functionCall arrives whole: tool_use start, one input_json_delta with all the arguments,
 *   stop. Its thought signature (and Gemini's call id) ride in the tool_use id (see ids.ts).
 * - A signature on a thought part becomes the thinking block's `signature_delta`. A signature on
 *   a text part (or on the empty text part Gemini may end with) has no Anthropic field, so it is
 *   emitted as an empty thinking block right after that text: on the next turn the request
 *   translator puts it back on the part before it. Anthropic's own "omitted" thinking blocks
 *   look the same (empty thinking, a signature), so clients already handle the shape.
 * - message_start is held back until there is something to say, so a stream whose first chunk
 *   is an error still reaches the core as an error it can retry elsewhere.
 *
 * Non-streaming responses go through the same machine (response.ts), so `finalMessage()` of a
 * stream and the non-streaming answer come out the same.
 */
export class StreamTranslator implements Translator {
  done = false;
  private started = false;
  private nextIndex = 0;
  private open?: OpenBlock;
  private usage?: UsageMetadata;
  private modelVersion?: string;
  private responseId?: string;
  private finishReason?: string;
  private finishMessage?: string;
  private blockReason?: string;
  private blockMessage?: string;
  private sawFunctionCall = false;

  constructor(private readonly ctx: StreamContext) {}

  get finished(): boolean {
    return this.done;
  }

  /** One SSE event (Gemini sends `data:` lines only, no [DONE]: the end is the connection closing). */
  frame(ev: SseEvent): StreamEvent[] {
    if (!ev.data) return [];
    return this.chunk(parseJson(ev.data) ?? { error: { status: 'INTERNAL', message: 'Gemini sent a stream chunk that is not JSON' } });
  }

  /** The events for one upstream chunk. */
  chunk(r: GenerateContentResponse): StreamEvent[] {
    if (this.done) return [];
    const out: StreamEvent[] = [];
    if (r.error) {
      this.done = true;
      out.push({ event: 'error', data: streamErrorData(r.error, this.ctx.secrets, this.ctx.requestId) });
      return out;
    }
    if (r.usageMetadata) this.usage = r.usageMetadata; // running totals: the last one wins
    this.modelVersion ??= r.modelVersion;
    this.responseId ??= r.responseId;
    if (r.promptFeedback?.blockReason) {
      this.blockReason = r.promptFeedback.blockReason;
      this.blockMessage = r.promptFeedback.blockReasonMessage;
    }
    const candidate = r.candidates?.find((c) => (c.index ?? 0) === 0);
    for (const part of candidate?.content?.parts ?? []) this.part(part, out);
    if (candidate?.finishReason) {
      this.finishReason = candidate.finishReason;
      this.finishMessage = candidate.finishMessage;
    }
    return out;
  }

  /**
   * The upstream is done. A stream that ends without a finishReason was cut short and ends with
   * an error event; `complete` is for a whole (non-streaming) response, where a missing
   * finishReason just means STOP.
   */
  end(complete = false): StreamEvent[] {
    if (this.done) return [];
    this.done = true;
    const out: StreamEvent[] = [];
    let stopReason: string;
    let stopDetails: unknown = null;
    if (this.blockReason && !this.finishReason) {
      stopReason = 'refusal';
      stopDetails = refusal(`Gemini blocked the prompt (${this.blockReason})${this.blockMessage ? `: ${this.blockMessage}` : ''}`);
    } else {
      const finish = this.finishReason ?? (complete ? 'STOP' : undefined);
      if (!finish) return [this.error('api_error', 'the Gemini stream ended without a finishReason (cut short)')];
      const outcome = toOutcome(finish, this.sawFunctionCall, this.nextIndex > 0, this.finishMessage);
      if ('failure' in outcome) return [this.error('api_error', outcome.failure)];
      stopReason = outcome.stopReason;
      if (stopReason === 'refusal') stopDetails = refusal(`Gemini stopped with finishReason ${finish}${this.finishMessage ? `: ${this.finishMessage}` : ''}`);
    }
    this.ensureStarted(out);
    this.close(out);
    out.push(ev('message_delta', { delta: { stop_reason: stopReason, stop_sequence: null, stop_details: stopDetails }, usage: toUsage(this.usage) }));
    out.push(messageStopEvent());
    return out;
  }

  private part(p: Part, out: StreamEvent[]): void {
    const signature = typeof p.thoughtSignature === 'string' && p.thoughtSignature ? p.thoughtSignature : undefined;
    if (p.functionCall) return this.toolUse(p.functionCall, signature, out);
    // inlineData, executableCode, …: parts of features this provider never asks for; no block holds them.
    if (typeof p.text !== 'string') return;
    if (p.text) {
      const kind = p.thought ? 'thinking' : 'text';
      this.openBlock(kind, out);
      const index = this.open!.index;
      out.push(kind === 'text' ? deltaEvent(index, 'text_delta', 'text', p.text) : deltaEvent(index, 'thinking_delta', 'thinking', p.text));
    }
    if (signature) this.signature(signature, out);
  }

  private signature(signature: string, out: StreamEvent[]): void {
    const o = this.open;
    if (o && !o.signature && (o.kind === 'thinking' || this.ctx.textSignatures)) {
      o.signature = signature;
      return;
    }
    if (!this.ctx.textSignatures) return;
    this.close(out);
    this.carrier(signature, out);
  }

  private toolUse(call: NonNullable<Part['functionCall']>, signature: string | undefined, out: StreamEvent[]): void {
    this.close(out);
    this.sawFunctionCall = true;
    const id = encodeToolUseId({ id: call.id, signature, model: this.ctx.model });
    const index = this.startBlock({ type: 'tool_use', id, name: call.name, input: {} }, out);
    out.push(ev('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: JSON.stringify(call.args ?? {}) } }));
    out.push(blockStopEvent(index));
  }

  private openBlock(kind: OpenBlock['kind'], out: StreamEvent[]): void {
    const o = this.open;
    // A signed thinking block is finished: new thoughts after it start a new block.
    if (o && o.kind === kind && !(kind === 'thinking' && o.signature)) return;
    this.close(out);
    this.ensureStarted(out);
    const index = this.nextIndex++;
    out.push(blockStartEvent(index, kind));
    this.open = { kind, index };
  }

  private close(out: StreamEvent[]): void {
    const o = this.open;
    if (!o) return;
    this.open = undefined;
    if (o.kind === 'thinking' && o.signature) {
      out.push(ev('content_block_delta', { index: o.index, delta: { type: 'signature_delta', signature: encodeSignature(this.ctx.model, o.signature) } }));
    }
    out.push(blockStopEvent(o.index));
    if (o.kind === 'text' && o.signature) this.carrier(o.signature, out);
  }

  /** An empty thinking block whose only content is the signature of the part before it. */
  private carrier(signature: string, out: StreamEvent[]): void {
    const index = this.startBlock({ type: 'thinking', thinking: '', signature: '' }, out);
    out.push(ev('content_block_delta', { index, delta: { type: 'signature_delta', signature: encodeSignature(this.ctx.model, signature) } }));
    out.push(blockStopEvent(index));
  }

  private startBlock(block: Record<string, unknown>, out: StreamEvent[]): number {
    this.ensureStarted(out);
    const index = this.nextIndex++;
    out.push(ev('content_block_start', { index, content_block: block }));
    return index;
  }

  private ensureStarted(out: StreamEvent[]): void {
    if (this.started) return;
    this.started = true;
    const message = {
      id: messageId(this.responseId),
      type: 'message',
      role: 'assistant',
      model: this.modelVersion ?? this.ctx.model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { ...toUsage(this.usage), output_tokens: 0 },
    };
    out.push(ev('message_start', { message }));
  }

  private error(type: string, message: string): StreamEvent {
    this.done = true;
    return { event: 'error', data: envelope(type, message, this.ctx.requestId) };
  }
}

function ev(event: string, fields: Record<string, unknown>): StreamEvent {
  return { event, data: { type: event, ...fields } };
}

function refusal(explanation: string) {
  return { type: 'refusal', category: null, explanation };
}

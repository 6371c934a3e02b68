import { statusForErrorType } from '../../core/errors';
import type { StreamEvent } from '../../core/upstream';
import { StreamTranslator, type StreamContext } from './stream';
import type { GenerateContentResponse } from './wire';

/**
 * A generateContent response → an Anthropic Message (or error envelope). It runs through the
 * stream translator and is folded back into one message the way a client folds a stream, so
 * the two paths cannot drift apart.
 */
export function toMessageReply(response: GenerateContentResponse, ctx: StreamContext): { status: number; body: any } {
  const t = new StreamTranslator(ctx);
  return assemble([...t.chunk(response), ...t.end(true)]);
}

/** Folds Anthropic stream events into the message they describe. */
export function assemble(events: StreamEvent[]): { status: number; body: any } {
  let message: any;
  const json = new Map<number, string>();
  for (const { event, data } of events) {
    switch (event) {
      case 'error':
        // An answer Gemini gave but nobody can use (e.g. a malformed function call): a bad gateway
        // reply (502, retryable), not the 500 Anthropic answers for its own api_error.
        return { status: data.error.type === 'api_error' ? 502 : statusForErrorType(data.error.type), body: data };
      case 'message_start':
        message = structuredClone(data.message);
        break;
      case 'content_block_start':
        message.content[data.index] = { ...data.content_block };
        break;
      case 'content_block_delta': {
        const block = message.content[data.index];
        const d = data.delta;
        if (d.type === 'text_delta') block.text += d.text;
        else if (d.type === 'thinking_delta') block.thinking += d.thinking;
        else if (d.type === 'signature_delta') block.signature = d.signature;
        else if (d.type === 'input_json_delta') json.set(data.index, (json.get(data.index) ?? '') + d.partial_json);
        break;
      }
      case 'content_block_stop':
        if (json.has(data.index)) message.content[data.index].input = JSON.parse(json.get(data.index) || '{}');
        break;
      case 'message_delta':
        Object.assign(message, data.delta);
        Object.assign(message.usage, data.usage);
        break;
    }
  }
  return { status: 200, body: message };
}

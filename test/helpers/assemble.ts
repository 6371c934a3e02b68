import type { ParsedEvent } from './sse-client';

/**
 * Builds the final Message from Anthropic stream events the way the SDK's MessageStream does
 * (content_block_start pushes, deltas append, message_delta overwrites stop and usage), for
 * tests that check translator output without going through HTTP.
 */
export function assemble(events: ParsedEvent[]): any {
  let msg: any;
  const json: Record<number, string> = {};
  for (const { event, data } of events) {
    switch (event) {
      case 'message_start':
        msg = structuredClone(data.message);
        break;
      case 'content_block_start':
        msg.content[data.index] = structuredClone(data.content_block);
        break;
      case 'content_block_delta': {
        const b = msg.content[data.index];
        const d = data.delta;
        if (d.type === 'text_delta') b.text += d.text;
        else if (d.type === 'thinking_delta') b.thinking += d.thinking;
        else if (d.type === 'signature_delta') b.signature = d.signature;
        else if (d.type === 'input_json_delta') json[data.index] = (json[data.index] ?? '') + d.partial_json;
        break;
      }
      case 'content_block_stop':
        if (json[data.index] !== undefined) msg.content[data.index].input = JSON.parse(json[data.index]);
        break;
      case 'message_delta':
        Object.assign(msg, data.delta);
        Object.assign(msg.usage, data.usage);
        break;
    }
  }
  return msg;
}

import type { StreamEvent } from '../../core/upstream';

/**
 * The event sequence Anthropic streams for a finished Message, for an upstream (or a proxy in
 * front of it) that answered a stream request with plain JSON: the client asked for a stream and
 * its SDK only knows how to read one. Usage goes out as Anthropic sends it: input and cache
 * counts in message_start, the final counts in message_delta.
 */
export function messageEvents(m: Record<string, any>): StreamEvent[] {
  const usage = m.usage && typeof m.usage === 'object' ? m.usage : {};
  const events: StreamEvent[] = [
    {
      event: 'message_start',
      data: { type: 'message_start', message: { ...m, content: [], stop_reason: null, stop_sequence: null, usage: { ...usage, output_tokens: 0 } } },
    },
  ];
  (Array.isArray(m.content) ? m.content : []).forEach((b: any, index: number) => {
    const [start, deltas] = blockEvents(b);
    events.push({ event: 'content_block_start', data: { type: 'content_block_start', index, content_block: start } });
    for (const delta of deltas) events.push({ event: 'content_block_delta', data: { type: 'content_block_delta', index, delta } });
    events.push({ event: 'content_block_stop', data: { type: 'content_block_stop', index } });
  });
  events.push(
    { event: 'message_delta', data: { type: 'message_delta', delta: { stop_reason: m.stop_reason ?? null, stop_sequence: m.stop_sequence ?? null }, usage } },
    { event: 'message_stop', data: { type: 'message_stop' } },
  );
  return events;
}

/** A block's content_block_start payload and its deltas; blocks with no delta type (redacted thinking, tool results) start whole. */
function blockEvents(b: any): [Record<string, unknown>, Array<Record<string, unknown>>] {
  switch (b?.type) {
    case 'text': {
      const { text, ...rest } = b;
      return [{ ...rest, text: '' }, text ? [{ type: 'text_delta', text }] : []];
    }
    case 'thinking': {
      const { thinking, signature, ...rest } = b;
      const deltas: Array<Record<string, unknown>> = [];
      if (thinking) deltas.push({ type: 'thinking_delta', thinking });
      if (signature) deltas.push({ type: 'signature_delta', signature });
      return [{ ...rest, thinking: '', signature: '' }, deltas];
    }
    case 'tool_use':
    case 'server_tool_use':
    case 'mcp_tool_use': {
      const { input, ...rest } = b;
      const json = input === undefined ? '' : JSON.stringify(input);
      return [{ ...rest, input: {} }, json && json !== '{}' ? [{ type: 'input_json_delta', partial_json: json }] : []];
    }
    default:
      return [b, []];
  }
}

import type { ParsedEvent } from './sse-client';

/**
 * Checks a streamed Messages response against Anthropic's event grammar:
 *   message_start (content_block_start content_block_delta* content_block_stop)* message_delta+ message_stop
 * with `ping` allowed anywhere and `error` allowed to end the stream early. Also checks that every
 * event's data `type` equals its event name, indexes count up from 0, deltas match their block's
 * type, and tool_use input_json fragments concatenate to valid JSON. Returns a list of violations.
 */
export function grammarViolations(events: ParsedEvent[]): string[] {
  const v: string[] = [];
  type State = 'start' | 'message' | 'block' | 'delta' | 'stopped' | 'errored';
  let state = 'start' as State;
  let nextIndex = 0;
  let open: { index: number; type: string; json: string } | undefined;
  events.forEach((e, i) => {
    const where = `event ${i} (${e.event})`;
    if (!e.event) v.push(`${where}: missing event: line`);
    if (e.data?.type !== e.event) v.push(`${where}: data.type '${e.data?.type}' differs from the event name`);
    if (e.event === 'ping') return;
    if (state === 'stopped' || state === 'errored') {
      v.push(`${where}: event after the stream ended`);
      return;
    }
    switch (e.event) {
      case 'error':
        if (!e.data?.error?.type || typeof e.data.error.message !== 'string') v.push(`${where}: error without error.type/message`);
        state = 'errored';
        return;
      case 'message_start': {
        if (state !== 'start') v.push(`${where}: message_start not first`);
        const m = e.data?.message;
        if (!m || m.type !== 'message' || m.role !== 'assistant' || !Array.isArray(m.content) || m.content.length !== 0)
          v.push(`${where}: message_start.message malformed`);
        if (m?.stop_reason !== null) v.push(`${where}: message_start stop_reason must be null`);
        if (typeof m?.usage?.input_tokens !== 'number' || typeof m?.usage?.output_tokens !== 'number') v.push(`${where}: message_start usage missing`);
        if (typeof m?.id !== 'string' || !m.id.startsWith('msg_')) v.push(`${where}: message id should start with msg_`);
        state = 'message';
        return;
      }
      case 'content_block_start': {
        if (state !== 'message') v.push(`${where}: content_block_start while ${state}`);
        if (e.data.index !== nextIndex) v.push(`${where}: index ${e.data.index}, expected ${nextIndex}`);
        const b = e.data.content_block;
        if (!b?.type) v.push(`${where}: content_block without type`);
        if (b?.type === 'tool_use') {
          if (typeof b.id !== 'string' || !b.id.startsWith('toolu_')) v.push(`${where}: tool_use id should start with toolu_`);
          if (typeof b.name !== 'string' || !b.name) v.push(`${where}: tool_use without name`);
          if (JSON.stringify(b.input) !== '{}') v.push(`${where}: tool_use start input should be {}`);
        }
        if (b?.type === 'text' && b.text !== '') v.push(`${where}: text block should start empty`);
        if (b?.type === 'thinking' && b.thinking !== '') v.push(`${where}: thinking block should start empty`);
        open = { index: e.data.index, type: b?.type, json: '' };
        state = 'block';
        return;
      }
      case 'content_block_delta': {
        if (state !== 'block' && state !== 'delta') v.push(`${where}: delta outside a block`);
        if (open && e.data.index !== open.index) v.push(`${where}: delta index ${e.data.index} for open block ${open.index}`);
        const d = e.data.delta;
        const allowed: Record<string, string[]> = {
          text: ['text_delta', 'citations_delta'],
          tool_use: ['input_json_delta'],
          server_tool_use: ['input_json_delta'],
          thinking: ['thinking_delta', 'signature_delta'],
        };
        if (open && allowed[open.type] && !allowed[open.type].includes(d?.type)) v.push(`${where}: ${d?.type} inside a ${open.type} block`);
        if (d?.type === 'input_json_delta') {
          if (typeof d.partial_json !== 'string') v.push(`${where}: partial_json must be a string`);
          else if (open) open.json += d.partial_json;
        }
        if (d?.type === 'text_delta' && typeof d.text !== 'string') v.push(`${where}: text_delta without text`);
        if (d?.type === 'thinking_delta' && typeof d.thinking !== 'string') v.push(`${where}: thinking_delta without thinking`);
        state = 'delta';
        return;
      }
      case 'content_block_stop':
        if (state !== 'block' && state !== 'delta') v.push(`${where}: stop outside a block`);
        if (open && e.data.index !== open.index) v.push(`${where}: stop index ${e.data.index} for open block ${open.index}`);
        if (open && (open.type === 'tool_use' || open.type === 'server_tool_use') && open.json !== '') {
          try {
            const parsed = JSON.parse(open.json);
            if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) v.push(`${where}: tool input is not an object`);
          } catch {
            v.push(`${where}: tool input fragments are not valid JSON: ${open.json.slice(0, 80)}`);
          }
        }
        open = undefined;
        nextIndex++;
        state = 'message';
        return;
      case 'message_delta':
        if (state !== 'message') v.push(`${where}: message_delta while ${state}`);
        if (typeof e.data?.usage?.output_tokens !== 'number') v.push(`${where}: message_delta without usage.output_tokens`);
        if (!('stop_reason' in (e.data?.delta ?? {}))) v.push(`${where}: message_delta without delta.stop_reason`);
        return;
      case 'message_stop':
        if (state !== 'message') v.push(`${where}: message_stop while ${state}`);
        if (!events.slice(0, i).some((x) => x.event === 'message_delta')) v.push(`${where}: message_stop without message_delta`);
        state = 'stopped';
        return;
      default:
        v.push(`${where}: unknown event`);
    }
  });
  if (state !== 'stopped' && state !== 'errored') v.push(`stream ended in state ${state} without message_stop or error`);
  return v;
}

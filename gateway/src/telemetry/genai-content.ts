import type { StreamEvent } from '../core/upstream';
import { payload } from '../core/payload';

/**
 * Prompt and completion text in the shape the OpenTelemetry GenAI conventions give
 * `gen_ai.input.messages`, `gen_ai.output.messages` and `gen_ai.system_instructions`
 * (messages of typed parts). Only used when content capture is switched on.
 */
type Part = Record<string, unknown>;

function parts(content: unknown): Part[] {
  if (typeof content === 'string') return [{ type: 'text', content }];
  if (!Array.isArray(content)) return [];
  return content.map((b: any): Part => {
    switch (b?.type) {
      case 'text':
        return { type: 'text', content: b.text };
      case 'thinking':
        return { type: 'reasoning', content: b.thinking };
      case 'tool_use':
      case 'server_tool_use':
        return { type: 'tool_call', id: b.id, name: b.name, arguments: b.input };
      case 'tool_result':
        return { type: 'tool_call_response', id: b.tool_use_id, response: typeof b.content === 'string' ? b.content : parts(b.content) };
      default:
        return { type: String(b?.type ?? 'unknown') }; // images, documents: the kind only, not the bytes
    }
  });
}

export function inputMessages(body: Record<string, any> | undefined): string | undefined {
  if (!body || !Array.isArray(body.messages)) return undefined;
  return JSON.stringify(body.messages.map((m: any) => ({ role: m?.role, parts: parts(m?.content) })));
}

export function systemInstructions(body: Record<string, any> | undefined): string | undefined {
  if (!body || body.system === undefined) return undefined;
  return JSON.stringify(parts(body.system));
}

/** The completion of a non-streamed reply. */
export function outputFromMessage(message: any): string | undefined {
  if (!message || message.type !== 'message') return undefined;
  return JSON.stringify([{ role: 'assistant', parts: parts(message.content), finish_reason: message.stop_reason ?? undefined }]);
}

/** Rebuilds the completion of a stream from its events (text and thinking deltas, tool input fragments). */
export function outputFromEvents(events: StreamEvent[]): string | undefined {
  const blocks: any[] = [];
  let stop: string | undefined;
  for (const ev of events) {
    const d = payload(ev);
    if (!d) continue;
    if (ev.event === 'content_block_start') blocks[d.index] = { ...d.content_block, json: '' };
    else if (ev.event === 'content_block_delta') {
      const b = blocks[d.index];
      if (!b) continue;
      const delta = d.delta ?? {};
      if (delta.type === 'text_delta') b.text = (b.text ?? '') + delta.text;
      else if (delta.type === 'thinking_delta') b.thinking = (b.thinking ?? '') + delta.thinking;
      else if (delta.type === 'input_json_delta') b.json += delta.partial_json;
    } else if (ev.event === 'message_delta' && typeof d.delta?.stop_reason === 'string') stop = d.delta.stop_reason;
  }
  if (!blocks.length) return undefined;
  const content = blocks.filter(Boolean).map((b) => {
    if (b.json) {
      try {
        b.input = JSON.parse(b.json);
      } catch {
        b.input = b.json;
      }
    }
    return b;
  });
  return JSON.stringify([{ role: 'assistant', parts: parts(content), finish_reason: stop }]);
}

import type { StreamEvent } from '../core/upstream';

/**
 * The events a translated stream sends most, each with its wire form (`raw`) built by
 * concatenation: nearly every event of a stream is one of these, and serialising the event object
 * again in the relay costs several times more. `raw` is byte for byte what `formatEvent(event,
 * data)` gives (test/event-wire.test.ts): the same key order, a block index is a non-negative
 * integer, and the only free text goes through JSON.stringify as it would inside the object.
 * `data` stays for the readers of the parsed event (usage, telemetry, a whole-answer replay).
 */

export type DeltaType = 'text_delta' | 'thinking_delta' | 'input_json_delta';
export type DeltaField = 'text' | 'thinking' | 'partial_json';

export function deltaEvent(index: number, type: DeltaType, field: DeltaField, piece: string): StreamEvent {
  return {
    event: 'content_block_delta',
    data: { type: 'content_block_delta', index, delta: { type, [field]: piece } },
    raw: `event: content_block_delta\ndata: {"type":"content_block_delta","index":${index},"delta":{"type":"${type}","${field}":${JSON.stringify(piece)}}}\n\n`,
  };
}

/** content_block_start of an empty text or thinking block. */
export function blockStartEvent(index: number, kind: 'text' | 'thinking'): StreamEvent {
  return kind === 'text'
    ? {
        event: 'content_block_start',
        data: { type: 'content_block_start', index, content_block: { type: 'text', text: '' } },
        raw: `event: content_block_start\ndata: {"type":"content_block_start","index":${index},"content_block":{"type":"text","text":""}}\n\n`,
      }
    : {
        event: 'content_block_start',
        data: { type: 'content_block_start', index, content_block: { type: 'thinking', thinking: '', signature: '' } },
        raw: `event: content_block_start\ndata: {"type":"content_block_start","index":${index},"content_block":{"type":"thinking","thinking":"","signature":""}}\n\n`,
      };
}

export function blockStopEvent(index: number): StreamEvent {
  return {
    event: 'content_block_stop',
    data: { type: 'content_block_stop', index },
    raw: `event: content_block_stop\ndata: {"type":"content_block_stop","index":${index}}\n\n`,
  };
}

const MESSAGE_STOP = 'event: message_stop\ndata: {"type":"message_stop"}\n\n';

/** A fresh `data` each time: readers of a stream's events may keep or annotate them. */
export function messageStopEvent(): StreamEvent {
  return { event: 'message_stop', data: { type: 'message_stop' }, raw: MESSAGE_STOP };
}

import type { StreamEvent } from '../../core/upstream';
import { blockStartEvent, blockStopEvent, deltaEvent, type DeltaField, type DeltaType } from '../event-wire';
import { toAnthropicToolId, inventToolId } from './ids';
import { JsonTail } from './json-tail';

type Kind = 'text' | 'thinking' | 'tool_use';

const DELTA: Record<Kind, [DeltaType, DeltaField]> = {
  text: ['text_delta', 'text'],
  thinking: ['thinking_delta', 'thinking'],
  tool_use: ['input_json_delta', 'partial_json'],
};

interface Slot {
  kind: Kind;
  /** Content that arrived while another block was open. */
  buffered: string;
  id?: string;
  name?: string;
  json?: JsonTail;
  /** Tool calls open only once id and name are known (llama.cpp may send the name late). */
  ready: boolean;
  /** The Anthropic block index, once opened. */
  index?: number;
}

/**
 * Anthropic content blocks are strictly sequential (start, deltas, stop, next), while an OpenAI
 * delta stream can interleave reasoning, text and several tool calls (keyed by tool_calls index).
 * This keeps one block open at a time and buffers whatever arrives for the others:
 * - text and thinking can always be closed, and a later piece simply opens a new block;
 * - a tool call's block closes only once its arguments are complete JSON, so an interleaved
 *   call's fragments wait in its buffer and go out when it gets the floor, or at the end.
 * Everything is written to `out`, which the caller drains per upstream chunk.
 */
export class BlockSequencer {
  private next = 0;
  private active?: Slot;
  private waiting: Slot[] = [];
  private readonly tools = new Map<number, Slot>();
  private closed = new Set<Slot>();

  constructor(
    private readonly out: StreamEvent[],
    private readonly idSeed: string,
  ) {}

  get sawToolCall(): boolean {
    return this.tools.size > 0;
  }

  text(piece: string): void {
    if (piece) this.feed(this.slotFor('text'), piece);
  }

  thinking(piece: string): void {
    if (piece) this.feed(this.slotFor('thinking'), piece);
  }

  tool(index: number, id: unknown, name: unknown, args: unknown): void {
    let slot = this.tools.get(index);
    if (!slot) {
      slot = { kind: 'tool_use', buffered: '', ready: false, json: new JsonTail() };
      this.tools.set(index, slot);
      this.waiting.push(slot);
    }
    // Servers that repeat id/name on later fragments: the first value wins.
    if (!slot.id && typeof id === 'string' && id) slot.id = id;
    if (!slot.name && typeof name === 'string' && name) slot.name = name;
    if (!slot.ready && slot.name) {
      slot.ready = true;
      slot.id = slot.id ? toAnthropicToolId(slot.id) : inventToolId(this.idSeed, index);
    }
    if (this.closed.has(slot)) return; // its JSON was complete; only whitespace can follow
    const piece = typeof args === 'string' ? args : '';
    slot.json!.push(piece);
    if (slot === this.active) this.delta(slot, piece);
    else {
      slot.buffered += piece;
      if (slot.ready && this.canYield()) this.switchTo(slot);
    }
    // A finished call hands the floor to one that has been waiting.
    if (this.active?.kind === 'tool_use' && this.active.json!.complete) {
      const ready = this.waiting.find((s) => s.ready);
      if (ready) this.switchTo(ready);
    }
  }

  /** Closes the open block and emits every buffered one whole. Tool calls that never got a name are dropped (nothing could call them). */
  finish(): void {
    this.close();
    for (const slot of this.waiting.splice(0)) {
      if (slot.ready || slot.kind !== 'tool_use') this.open(slot, true);
    }
  }

  private slotFor(kind: 'text' | 'thinking'): Slot {
    if (this.active?.kind === kind) return this.active;
    const last = this.waiting[this.waiting.length - 1];
    if (last?.kind === kind) return last;
    const slot: Slot = { kind, buffered: '', ready: true };
    this.waiting.push(slot);
    return slot;
  }

  private feed(slot: Slot, piece: string): void {
    if (slot === this.active) return this.delta(slot, piece);
    slot.buffered += piece;
    if (this.canYield()) this.switchTo(slot);
  }

  /** Whether the open block may close now. */
  private canYield(): boolean {
    const a = this.active;
    return !a || a.kind !== 'tool_use' || a.json!.complete;
  }

  private switchTo(slot: Slot): void {
    this.close();
    this.waiting.splice(this.waiting.indexOf(slot), 1);
    this.open(slot, false);
  }

  private open(slot: Slot, andClose: boolean): void {
    const index = this.next++;
    this.out.push(
      slot.kind === 'tool_use'
        ? {
            event: 'content_block_start',
            data: { type: 'content_block_start', index, content_block: { type: 'tool_use', id: slot.id, name: slot.name, input: {} } },
          }
        : blockStartEvent(index, slot.kind),
    );
    this.active = slot;
    slot.index = index;
    const buffered = slot.buffered;
    slot.buffered = '';
    if (buffered) this.delta(slot, buffered);
    if (andClose) this.close();
  }

  private delta(slot: Slot, piece: string): void {
    if (!piece) return;
    const [type, field] = DELTA[slot.kind];
    this.out.push(deltaEvent(slot.index!, type, field, piece));
  }

  private close(): void {
    const slot = this.active;
    if (!slot) return;
    // Arguments cut short (max tokens) get the suffix that makes them valid JSON.
    if (slot.kind === 'tool_use') this.delta(slot, slot.json!.suffix());
    this.out.push(blockStopEvent(slot.index!));
    this.closed.add(slot);
    this.active = undefined;
  }
}

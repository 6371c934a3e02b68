/**
 * Server-sent events, both directions. The reader yields whole events so the gateway only ever
 * forwards complete events: if an upstream dies mid-event the client never sees half of one, and
 * an `error` event can be appended without breaking the grammar.
 */
export interface SseEvent {
  /** The exact text of the event including its terminating blank line (for pass-through). */
  raw: string;
  /** `event:` field, or '' when absent (OpenAI and Gemini send only `data:`). */
  event: string;
  /** `data:` lines joined with '\n'. */
  data: string;
}

export function formatEvent(name: string, data: unknown): string {
  return `event: ${name}\ndata: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`;
}

/** Incremental parser: push decoded text, get complete events. Accepts \n, \r\n and \r line ends. */
export class SseParser {
  private buf = '';
  private lines: string[] = [];
  private rawParts: string[] = [];

  /** Nothing buffered: the input so far ended exactly at an event boundary. */
  get idle(): boolean {
    return this.buf === '' && this.lines.length === 0;
  }

  push(text: string): SseEvent[] {
    const out: SseEvent[] = [];
    const buf = this.buf + text;
    let pos = 0;
    // indexOf scans natively; most streams never contain \r, so its search usually fails once.
    let nextCr = buf.indexOf('\r');
    for (;;) {
      let nl = buf.indexOf('\n', pos);
      let width = 1;
      if (nextCr !== -1 && nextCr < pos) nextCr = buf.indexOf('\r', pos);
      if (nextCr !== -1 && (nl === -1 || nextCr < nl)) {
        // A lone \r at the very end may be the first half of \r\n: wait for more input.
        if (nextCr + 1 >= buf.length) break;
        nl = nextCr;
        width = buf.charCodeAt(nextCr + 1) === 10 ? 2 : 1;
      }
      if (nl === -1) break;
      const line = buf.slice(pos, nl);
      const end = nl + width;
      this.rawParts.push(buf.slice(pos, end));
      pos = end;
      if (line === '') {
        if (this.lines.length > 0) out.push(this.dispatch());
        this.rawParts = [];
      } else {
        this.lines.push(line);
      }
    }
    this.buf = buf.slice(pos);
    return out;
  }

  /** Whatever complete-but-unterminated event is left when the stream ends (servers that omit the final blank line). */
  flush(): SseEvent[] {
    // A held-back lone \r is a line end after all: the stream is over, no \n can follow.
    if (this.buf === '\r') {
      this.buf = '';
      this.rawParts.push('\r');
      return this.lines.length ? [this.dispatch()] : [];
    }
    if (this.buf.length > 0) { this.rawParts.push(this.buf); this.lines.push(this.buf.replace(/\r$/, '')); this.buf = ''; }
    if (this.lines.length === 0) return [];
    const ev = this.dispatch();
    ev.raw += '\n\n';
    return [ev];
  }

  private dispatch(): SseEvent {
    let event = '';
    const data: string[] = [];
    let onlyComments = true;
    for (const line of this.lines) {
      if (line.startsWith(':')) continue;
      onlyComments = false;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
    }
    const raw = this.rawParts.join('');
    this.lines = [];
    return { raw, event: onlyComments ? '' : event, data: data.join('\n') };
  }
}

/** Reads a byte stream as SSE events, one batch (possibly empty) per chunk received. */
export async function* readSse(body: AsyncIterable<Uint8Array | string>): AsyncGenerator<SseEvent[]> {
  const decoder = new TextDecoder();
  const parser = new SseParser();
  for await (const chunk of body) {
    const text = typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
    const batch = parser.push(text);
    if (batch.length) yield batch;
  }
  const tail = [...parser.push(decoder.decode()), ...parser.flush()];
  if (tail.length) yield tail;
}

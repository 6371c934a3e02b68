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

/** An upstream event grew past the gateway's cap (`maxEventBytes`): the stream cannot go on. */
export class SseEventTooLarge extends Error {
  constructor(readonly limit: number) {
    super(`upstream sent a stream event larger than the gateway's limit of ${limit} bytes`);
    this.name = 'SseEventTooLarge';
  }
}

/**
 * Incremental parser: push decoded text, get complete events. Accepts \n, \r\n and \r line ends.
 * Linear in its input: an unterminated line is kept as a list of pieces and only new text is
 * searched for line ends (re-joining and rescanning the whole buffer per chunk made one 50 MB line
 * cost minutes of CPU). An event longer than `maxEventChars` throws SseEventTooLarge.
 */
export class SseParser {
  /** Pieces of the line not yet terminated; may end with a lone \r held back in case \n follows. */
  private partial: string[] = [];
  private partialLength = 0;
  private heldCr = false;
  private lines: string[] = [];
  private rawParts: string[] = [];
  /** Characters of the current event in finished lines (its raw text so far). */
  private eventLength = 0;

  /**
   * `keepRaw` false: events come with `raw` empty, for readers that use only `event` and `data`
   * (a translated stream), so each event's text is not gathered and joined a second time.
   */
  constructor(
    private readonly maxEventChars = Infinity,
    private readonly keepRaw = true,
  ) {}

  /** Nothing buffered: the input so far ended exactly at an event boundary. */
  get idle(): boolean {
    return this.partialLength === 0 && this.lines.length === 0;
  }

  push(text: string): SseEvent[] {
    const out: SseEvent[] = [];
    if (text === '') return out;
    // Upstream chunks nearly always start on an event boundary and hold whole `event:` + `data:`
    // events: those are cut straight out of the text, without the line lists, joins and per-line
    // slices below (~1 KB of garbage per event). Anything else goes on through the line parser
    // from where the shortcut stopped, which is always an event boundary.
    let pos = this.idle && !this.heldCr && text.indexOf('\r') === -1 ? this.wholeEvents(text, out) : 0;
    if (pos === text.length) return out;
    if (this.heldCr) {
      // The held \r ends its line; a \n right after it belongs to the same line end.
      this.heldCr = false;
      pos = text.charCodeAt(0) === 10 ? 1 : 0;
      const line = this.takePartial(text.slice(0, pos));
      this.endLine(line.slice(0, line.length - 1 - pos), line, out);
    }
    // indexOf scans natively; most streams never contain \r, so its search usually fails once.
    let nextCr = text.indexOf('\r', pos);
    for (;;) {
      let nl = text.indexOf('\n', pos);
      let width = 1;
      if (nextCr !== -1 && nextCr < pos) nextCr = text.indexOf('\r', pos);
      if (nextCr !== -1 && (nl === -1 || nextCr < nl)) {
        if (nextCr + 1 >= text.length) {
          // A lone \r at the very end may be the first half of \r\n: wait for more input.
          this.heldCr = true;
          nl = -1;
        } else {
          nl = nextCr;
          width = text.charCodeAt(nextCr + 1) === 10 ? 2 : 1;
        }
      }
      if (nl === -1) {
        if (pos < text.length) {
          this.partial.push(pos === 0 ? text : text.slice(pos));
          this.partialLength += text.length - pos;
          this.check();
        }
        return out;
      }
      const end = nl + width;
      const raw = this.partialLength ? this.takePartial(text.slice(pos, end)) : text.slice(pos, end);
      this.endLine(raw.slice(0, raw.length - width), raw, out);
      pos = end;
    }
  }

  /**
   * Leading events of the exact form `event: NAME\ndata: DATA\n\n`, pushed to `out` as the line
   * parser would make them; returns where the first other thing (or the unterminated rest) starts.
   * An event over the size cap is left to the line parser, which throws.
   */
  private wholeEvents(text: string, out: SseEvent[]): number {
    let pos = 0;
    for (;;) {
      const end = text.indexOf('\n\n', pos);
      if (end === -1 || end + 1 - pos > this.maxEventChars || !text.startsWith('event: ', pos)) return pos;
      const nameEnd = text.indexOf('\n', pos + 7);
      if (nameEnd === end || !text.startsWith('data: ', nameEnd + 1) || text.indexOf('\n', nameEnd + 7) !== end) return pos;
      out.push({ raw: this.keepRaw ? text.slice(pos, end + 2) : '', event: text.slice(pos + 7, nameEnd), data: text.slice(nameEnd + 7, end) });
      pos = end + 2;
    }
  }

  /** Whatever complete-but-unterminated event is left when the stream ends (servers that omit the final blank line). */
  flush(): SseEvent[] {
    const rest = this.takePartial('');
    // A held-back lone \r is a line end after all: the stream is over, no \n can follow.
    if (rest === '\r') {
      this.heldCr = false;
      this.rawParts.push('\r');
      return this.lines.length ? [this.dispatch()] : [];
    }
    this.heldCr = false;
    if (rest.length > 0) {
      this.rawParts.push(rest);
      this.lines.push(rest.replace(/\r$/, ''));
    }
    if (this.lines.length === 0) return [];
    const ev = this.dispatch();
    if (this.keepRaw) ev.raw += '\n\n';
    return [ev];
  }

  private takePartial(tail: string): string {
    if (this.partialLength === 0) return tail;
    this.partial.push(tail);
    const s = this.partial.join('');
    this.partial = [];
    this.partialLength = 0;
    return s;
  }

  private endLine(line: string, raw: string, out: SseEvent[]): void {
    if (this.keepRaw) this.rawParts.push(raw);
    if (line === '') {
      if (this.lines.length > 0) out.push(this.dispatch());
      this.rawParts = [];
      this.eventLength = 0;
    } else {
      this.lines.push(line);
      this.eventLength += raw.length;
      this.check();
    }
  }

  private check(): void {
    if (this.eventLength + this.partialLength > this.maxEventChars) throw new SseEventTooLarge(this.maxEventChars);
  }

  private dispatch(): SseEvent {
    let event = '';
    // One data line is the usual event: its value is the data, with no array to join.
    let data: string | undefined;
    let more: string[] | undefined;
    let onlyComments = true;
    for (const line of this.lines) {
      if (line.startsWith(':')) continue;
      onlyComments = false;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'event') event = value;
      else if (field === 'data') {
        if (data === undefined) data = value;
        else (more ??= [data]).push(value);
      }
    }
    const raw = this.keepRaw ? this.rawParts.join('') : '';
    this.lines = [];
    this.rawParts = [];
    this.eventLength = 0;
    return { raw, event: onlyComments ? '' : event, data: more ? more.join('\n') : (data ?? '') };
  }
}

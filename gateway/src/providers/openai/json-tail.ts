/**
 * Follows JSON text as it streams in, to answer two questions about a tool call's `arguments`:
 * is the value complete (so the next call may start its block), and if the upstream stopped
 * mid-value (max tokens), what suffix closes it into valid JSON. Anthropic's grammar requires a
 * tool_use block's fragments to form valid JSON, and the fragments already sent cannot be taken
 * back, so the repair has to be a suffix.
 */
export class JsonTail {
  private stack: string[] = [];
  private inString = false;
  private escape = false;
  private unicode = 0;
  private stringIsKey = false;
  /** A number or literal (true/false/null) in progress. */
  private token = '';
  /** What the grammar expects next inside the current container. */
  private expect: 'value' | 'key' | 'colon' | 'after' = 'value';
  /** Last structural character, to tell `[` from `,` when a value is expected. */
  private last = '';
  started = false;
  complete = false;
  /** Non-whitespace arrived after the value ended: the text is not one JSON value. */
  broken = false;

  push(s: string): void {
    for (let i = 0; i < s.length; i++) this.step(s[i]);
  }

  private step(c: string): void {
    if (this.complete) {
      if (!/\s/.test(c)) this.broken = true;
      return;
    }
    if (this.inString) {
      if (this.unicode > 0) this.unicode--;
      else if (this.escape) {
        this.escape = false;
        if (c === 'u') this.unicode = 4;
      } else if (c === '\\') this.escape = true;
      else if (c === '"') {
        this.inString = false;
        if (this.stringIsKey) this.expect = 'colon';
        else this.valueDone();
      }
      return;
    }
    if (this.token) {
      if (/[A-Za-z0-9.+-]/.test(c)) return void (this.token += c);
      this.token = '';
      this.valueDone();
      if (this.complete) return this.step(c);
    }
    if (/\s/.test(c)) return;
    this.started = true;
    switch (c) {
      case '{':
      case '[':
        this.stack.push(c);
        this.expect = c === '{' ? 'key' : 'value';
        this.last = c;
        return;
      case '}':
      case ']':
        this.stack.pop();
        this.last = c;
        return this.valueDone();
      case '"':
        this.inString = true;
        this.stringIsKey = this.expect === 'key';
        return;
      case ':':
        this.expect = 'value';
        this.last = c;
        return;
      case ',':
        this.expect = this.stack[this.stack.length - 1] === '{' ? 'key' : 'value';
        this.last = c;
        return;
      default:
        this.token = c;
    }
  }

  private valueDone(): void {
    if (this.stack.length === 0) this.complete = true;
    else this.expect = 'after';
  }

  /** The text that turns what has been pushed into one complete JSON value ('' when already complete or empty). */
  suffix(): string {
    if (!this.started || this.complete) return '';
    let out = '';
    let expect = this.expect;
    if (this.inString) {
      if (this.unicode > 0) out += '0'.repeat(this.unicode);
      else if (this.escape) out += '\\';
      out += '"';
      expect = this.stringIsKey ? 'colon' : 'after';
    } else if (this.token) {
      out += completeToken(this.token);
      expect = 'after';
    }
    if (expect === 'colon') out += ':null';
    else if (expect === 'value' && (this.last === ':' || this.last === ',') && !this.inString && !this.token) out += 'null';
    else if (expect === 'key' && this.last === ',' && !this.inString) out += '"":null';
    for (let i = this.stack.length - 1; i >= 0; i--) out += this.stack[i] === '{' ? '}' : ']';
    return out;
  }
}

function completeToken(t: string): string {
  for (const lit of ['true', 'false', 'null']) if (lit.startsWith(t)) return lit.slice(t.length);
  return /[.eE+-]$/.test(t) ? '0' : '';
}

/** Parses tool arguments the way a streaming client would end up with them: repaired if cut short, `{}` if not an object. */
export function parseArguments(args: string): Record<string, unknown> {
  if (!args.trim()) return {};
  const tail = new JsonTail();
  tail.push(args);
  try {
    const v = JSON.parse(args + tail.suffix());
    return v && typeof v === 'object' && !Array.isArray(v) ? v : {};
  } catch {
    return {};
  }
}

import type { ReplyFacts } from '../../core/upstream';

/**
 * What the gateway reads of an Anthropic Message reply (usage, model, stop reason), taken without
 * parsing the whole reply: the bytes are checked against JSON's grammar exactly as `JSON.parse`
 * accepts it (every value, at every depth), the top-level members are located, and only the few
 * that are read are parsed, each from its own bytes. The answer is given only when it is certain:
 * a top-level object whose `type` is written `"message"` and whose `content` is an array (what
 * the provider's check of a parsed reply requires), and no top-level key written with an escape
 * (it could spell one of those names). Anything else, valid or not, is `undefined`, and the
 * caller parses the reply whole as before, with the same verdicts.
 */
export function scanMessage(raw: Buffer): ReplyFacts | undefined {
  const s = new Scan(raw);
  try {
    return s.message();
  } catch {
    // Nesting deep enough to exhaust the stack: the whole parse decides.
    return undefined;
  }
}

const enum C {
  Tab = 0x09,
  Lf = 0x0a,
  Cr = 0x0d,
  Space = 0x20,
  Quote = 0x22,
  Plus = 0x2b,
  Comma = 0x2c,
  Minus = 0x2d,
  Dot = 0x2e,
  Slash = 0x2f,
  Zero = 0x30,
  Nine = 0x39,
  Colon = 0x3a,
  E = 0x45,
  LBracket = 0x5b,
  Backslash = 0x5c,
  RBracket = 0x5d,
  LowerE = 0x65,
  LBrace = 0x7b,
  RBrace = 0x7d,
}

const TYPE = Buffer.from('type');
const CONTENT = Buffer.from('content');
const USAGE = Buffer.from('usage');
const MODEL = Buffer.from('model');
const STOP_REASON = Buffer.from('stop_reason');
const INPUT_TOKENS = Buffer.from('input_tokens');
const MESSAGE = Buffer.from('"message"');
const TRUE = Buffer.from('true');
const FALSE = Buffer.from('false');
const NULL = Buffer.from('null');

/** Escapes JSON allows after a backslash, other than `u`. */
const SIMPLE_ESCAPE = new Uint8Array(128);
for (const c of '"\\/bfnrt') SIMPLE_ESCAPE[c.charCodeAt(0)] = 1;

class Scan {
  private pos = 0;
  private readonly end: number;

  constructor(private readonly b: Buffer) {
    this.end = b.length;
  }

  message(): ReplyFacts | undefined {
    const { b } = this;
    this.ws();
    if (b[this.pos] !== C.LBrace) return undefined;
    this.pos++;
    // Where each member read starts and ends; a repeated key's last value wins, as in JSON.parse.
    let typeAt = -1,
      typeEnd = -1,
      contentAt = -1,
      usageAt = -1,
      usageEnd = -1,
      modelAt = -1,
      modelEnd = -1,
      stopAt = -1,
      stopEnd = -1,
      inputAt = -1,
      inputEnd = -1;
    this.ws();
    if (b[this.pos] === C.RBrace) return undefined;
    for (;;) {
      if (b[this.pos] !== C.Quote) return undefined;
      const keyAt = this.pos + 1;
      if (!this.string()) return undefined;
      const keyEnd = this.pos - 1;
      this.ws();
      if (b[this.pos] !== C.Colon) return undefined;
      this.pos++;
      this.ws();
      const at = this.pos;
      if (!this.value()) return undefined;
      const end = this.pos;
      if (hasByte(b, keyAt, keyEnd, C.Backslash)) return undefined;
      if (is(b, keyAt, keyEnd, TYPE)) {
        typeAt = at;
        typeEnd = end;
      } else if (is(b, keyAt, keyEnd, CONTENT)) contentAt = at;
      else if (is(b, keyAt, keyEnd, USAGE)) {
        usageAt = at;
        usageEnd = end;
      } else if (is(b, keyAt, keyEnd, MODEL)) {
        modelAt = at;
        modelEnd = end;
      } else if (is(b, keyAt, keyEnd, STOP_REASON)) {
        stopAt = at;
        stopEnd = end;
      } else if (is(b, keyAt, keyEnd, INPUT_TOKENS)) {
        inputAt = at;
        inputEnd = end;
      }
      this.ws();
      const c = b[this.pos++];
      if (c === C.RBrace) break;
      if (c !== C.Comma) return undefined;
      this.ws();
    }
    this.ws();
    if (this.pos !== this.end) return undefined;
    if (typeAt < 0 || !is(b, typeAt, typeEnd, MESSAGE) || contentAt < 0 || b[contentAt] !== C.LBracket) return undefined;
    return {
      usage: member(b, usageAt, usageEnd),
      model: member(b, modelAt, modelEnd),
      stop_reason: member(b, stopAt, stopEnd),
      input_tokens: member(b, inputAt, inputEnd),
    };
  }

  private ws(): void {
    const { b, end } = this;
    let p = this.pos;
    while (p < end) {
      const c = b[p];
      if (c !== C.Space && c !== C.Lf && c !== C.Cr && c !== C.Tab) break;
      p++;
    }
    this.pos = p;
  }

  private value(): boolean {
    const c = this.b[this.pos];
    if (c === C.Quote) return this.string();
    if (c === C.LBrace) return this.object();
    if (c === C.LBracket) return this.array();
    if (c === C.Minus || (c >= C.Zero && c <= C.Nine)) return this.number();
    if (c === 0x74) return this.literal(TRUE);
    if (c === 0x66) return this.literal(FALSE);
    if (c === 0x6e) return this.literal(NULL);
    return false;
  }

  /** At the opening quote; after it, past the closing one. */
  private string(): boolean {
    const { b, end } = this;
    let p = this.pos + 1;
    while (p < end) {
      const c = b[p++];
      if (c === C.Quote) {
        this.pos = p;
        return true;
      }
      if (c < 0x20) return false;
      if (c === C.Backslash) {
        const e = b[p++];
        if (e === 0x75) {
          if (p + 4 > end) return false;
          for (let k = 0; k < 4; k++) if (!isHex(b[p++])) return false;
        } else if (!(e < 128 && SIMPLE_ESCAPE[e])) return false;
      }
    }
    return false;
  }

  private object(): boolean {
    const { b } = this;
    this.pos++;
    this.ws();
    if (b[this.pos] === C.RBrace) {
      this.pos++;
      return true;
    }
    for (;;) {
      if (b[this.pos] !== C.Quote || !this.string()) return false;
      this.ws();
      if (b[this.pos] !== C.Colon) return false;
      this.pos++;
      this.ws();
      if (!this.value()) return false;
      this.ws();
      const c = b[this.pos++];
      if (c === C.RBrace) return true;
      if (c !== C.Comma) return false;
      this.ws();
    }
  }

  private array(): boolean {
    const { b } = this;
    this.pos++;
    this.ws();
    if (b[this.pos] === C.RBracket) {
      this.pos++;
      return true;
    }
    for (;;) {
      if (!this.value()) return false;
      this.ws();
      const c = b[this.pos++];
      if (c === C.RBracket) return true;
      if (c !== C.Comma) return false;
      this.ws();
    }
  }

  /** -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
  private number(): boolean {
    const { b } = this;
    let p = this.pos;
    if (b[p] === C.Minus) p++;
    if (b[p] === C.Zero) p++;
    else if (isDigit(b[p])) while (isDigit(b[p])) p++;
    else return false;
    if (b[p] === C.Dot) {
      p++;
      if (!isDigit(b[p])) return false;
      while (isDigit(b[p])) p++;
    }
    if (b[p] === C.LowerE || b[p] === C.E) {
      p++;
      if (b[p] === C.Plus || b[p] === C.Minus) p++;
      if (!isDigit(b[p])) return false;
      while (isDigit(b[p])) p++;
    }
    this.pos = p;
    return true;
  }

  private literal(word: Buffer): boolean {
    if (!is(this.b, this.pos, this.pos + word.length, word)) return false;
    this.pos += word.length;
    return true;
  }
}

// Past the end, `b[p]` is undefined: never a digit, never a match.
function isDigit(c: number | undefined): boolean {
  return c !== undefined && c >= C.Zero && c <= C.Nine;
}

function isHex(c: number | undefined): boolean {
  return c !== undefined && ((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66));
}

function is(b: Buffer, from: number, to: number, word: Buffer): boolean {
  if (to - from !== word.length || to > b.length) return false;
  for (let i = 0; i < word.length; i++) if (b[from + i] !== word[i]) return false;
  return true;
}

function hasByte(b: Buffer, from: number, to: number, byte: number): boolean {
  for (let i = from; i < to; i++) if (b[i] === byte) return true;
  return false;
}

/** A member's value, parsed from its own bytes (valid JSON: the whole was checked), or undefined when absent. */
function member(b: Buffer, at: number, end: number): any {
  return at < 0 ? undefined : JSON.parse(b.toString('utf8', at, end));
}

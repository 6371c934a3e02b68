/**
 * A JSON line written as UTF-8 bytes straight into a buffer, piece by piece. Building the access
 * log's line as a string made ~60 concatenations (a ConsString each) and a flattened copy per
 * request, all garbage a moment later; written here, a line allocates nothing.
 *
 * A variable-length piece (a string) reserves its worst case first (`ensure`), and with it SLACK
 * bytes more: constant pieces, numbers and single bytes are written unchecked, so a writer must
 * call `ensure` (`ensure(0)` to begin a line) at least every SLACK bytes of those. `grow` is the owner's: a
 * scratch line copies itself into a larger buffer, a batch writer may hand the lines before this
 * one to its stream first.
 */
export class ByteLine {
  buf: Buffer;
  pos = 0;
  /** Where the line being written began (a batch holds whole lines before it). */
  start = 0;

  constructor(
    size: number,
    private readonly grow: (line: ByteLine, need: number) => void = copyToLarger,
  ) {
    this.buf = Buffer.allocUnsafe(size);
  }

  ensure(need: number): void {
    if (this.pos + need + SLACK > this.buf.length) this.grow(this, need + SLACK);
  }

  /** Bytes pre-encoded once (a field name with its quotes and colon). Unchecked: see SLACK. */
  raw(bytes: Buffer): void {
    const n = bytes.length;
    const buf = this.buf;
    let p = this.pos;
    // A loop for the short ones; `set` (a memcpy behind a ~20 ns call) pays from ~16 bytes.
    if (n > 16) {
      buf.set(bytes, p);
      this.pos = p + n;
      return;
    }
    for (let i = 0; i < n; i++) buf[p++] = bytes[i];
    this.pos = p;
  }

  /** A short string known to be ASCII (a number's String(), an ISO time). Unchecked: see SLACK. */
  ascii(s: string): void {
    const n = s.length;
    const buf = this.buf;
    let p = this.pos;
    for (let i = 0; i < n; i++) buf[p++] = s.charCodeAt(i);
    this.pos = p;
  }

  /** `JSON.stringify(s)` (or `null`), byte for byte. */
  str(s: string | null | undefined): void {
    if (s == null) return this.raw(NULL);
    const n = s.length;
    // JSON writes a UTF-16 unit as at most 6 bytes (\uXXXX); a pair as 4 bytes of UTF-8.
    this.ensure(6 * n + 2);
    const buf = this.buf;
    const at = this.pos;
    let p = at;
    buf[p++] = 0x22;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      // Printable ASCII other than `"` and `\` is written as it is; anything else is escaped or
      // multi-byte, which JSON.stringify and the UTF-8 encoder do (rarely needed: names are plain).
      if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) {
        this.pos = at + buf.write(JSON.stringify(s), at, 'utf8');
        return;
      }
      buf[p++] = c;
    }
    buf[p++] = 0x22;
    this.pos = p;
  }

  /** `JSON.stringify(n)` of a number: `null` when it is not finite. */
  num(n: number): void {
    if (n >= 0 && n < 2147483648 && (n | 0) === n) return this.uint(n);
    this.ascii(Number.isFinite(n) ? String(n) : 'null');
  }

  /** A non-negative integer below 2^31, in decimal. Unchecked: see SLACK. */
  uint(n: number): void {
    const buf = this.buf;
    let digits = 1;
    for (let m = n; m >= 10; m = (m / 10) | 0) digits++;
    let p = this.pos + digits;
    this.pos = p;
    do {
      const q = (n / 10) | 0;
      buf[--p] = 0x30 + n - q * 10;
      n = q;
    } while (n > 0);
  }

  /** `n` as `width` (at most 10) decimal digits, zero-padded (n below 10^width). Unchecked: see SLACK. */
  padded(n: number, width: number): void {
    const buf = this.buf;
    let p = this.pos + width;
    this.pos = p;
    for (let i = 0; i < width; i++) {
      const q = (n / 10) | 0;
      buf[--p] = 0x30 + n - q * 10;
      n = q;
    }
  }

  byte(b: number): void {
    this.buf[this.pos++] = b;
  }
}

/** Room kept beyond every `ensure` for the unchecked pieces that follow it. */
export const SLACK = 1024;
const NULL = Buffer.from('null', 'latin1');

function copyToLarger(line: ByteLine, need: number): void {
  const next = Buffer.allocUnsafe(Math.max(2 * line.buf.length, line.pos + need));
  line.buf.copy(next, 0, 0, line.pos);
  line.buf = next;
}

/** A field name (or any constant piece), encoded once. */
export const bytes = (s: string): Buffer => Buffer.from(s, 'latin1');

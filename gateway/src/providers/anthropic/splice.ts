/**
 * Replaces the value of a top-level string field in raw JSON bytes, leaving every other byte as
 * the client sent it (key order, whitespace, number spellings, escapes). Re-serialising instead
 * would be slower on 30 MB bodies and would not be the body the client sent.
 */
export function replaceTopLevelString(raw: Buffer, key: string, value: string): Buffer {
  const spans = scan(raw, quoted(key));
  if (spans.length === 0) return raw;
  const encoded = quoted(value);
  let size = raw.length;
  for (let i = 0; i < spans.length; i += 2) size += encoded.length - (spans[i + 1] - spans[i]);
  // Copied straight into the result: no subarray per piece and no list of pieces for a concat.
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  let to = 0;
  for (let i = 0; i < spans.length; i += 2) {
    to += raw.copy(out, to, at, spans[i]);
    to += encoded.copy(out, to);
    at = spans[i + 1];
  }
  raw.copy(out, to, at);
  return out;
}

/** [start, end) byte spans of every value whose key at depth 1 equals `key`. */
export function findTopLevelValues(raw: Buffer, key: string): Array<[number, number]> {
  const flat = scan(raw, quoted(key));
  const spans: Array<[number, number]> = [];
  for (let i = 0; i < flat.length; i += 2) spans.push([flat[i], flat[i + 1]]);
  return spans;
}

// JSON-quoted bytes of the few strings spliced (the key `model`, the configured target models),
// made once each; read only, never written. Bounded in case a caller splices arbitrary values.
const quotedCache = new Map<string, Buffer>();

function quoted(s: string): Buffer {
  let b = quotedCache.get(s);
  if (!b) {
    if (quotedCache.size >= 1024) quotedCache.clear();
    quotedCache.set(s, (b = Buffer.from(JSON.stringify(s))));
  }
  return b;
}

/** The spans as a flat list: start, end, start, end… */
function scan(raw: Buffer, quotedKey: Buffer): number[] {
  const spans: number[] = [];
  let depth = 0;
  let i = 0;
  const n = raw.length;
  let expectKey = false;
  while (i < n) {
    const c = raw[i];
    if (c === 0x22 /* " */) {
      const end = skipString(raw, i);
      if (depth === 1 && expectKey) {
        const isKey = end - i === quotedKey.length && raw.compare(quotedKey, 0, quotedKey.length, i, end) === 0;
        i = end;
        while (i < n && raw[i] !== 0x3a /* : */) i++;
        i++;
        while (i < n && (raw[i] === 0x20 || raw[i] === 0x0a || raw[i] === 0x0d || raw[i] === 0x09)) i++;
        if (isKey) {
          const vEnd = skipValue(raw, i);
          spans.push(i, vEnd);
          i = vEnd;
        }
        expectKey = false;
        continue;
      }
      i = end;
      continue;
    }
    if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      depth++;
      expectKey = depth === 1 && c === 0x7b;
    } else if (c === 0x7d || c === 0x5d) depth--;
    else if (c === 0x2c /* , */ && depth === 1) expectKey = true;
    i++;
  }
  return spans;
}

function skipString(raw: Buffer, start: number): number {
  let i = start + 1;
  while (i < raw.length) {
    const c = raw[i];
    if (c === 0x5c) i += 2;
    else if (c === 0x22) return i + 1;
    else i++;
  }
  return raw.length;
}

function skipValue(raw: Buffer, start: number): number {
  if (raw[start] === 0x22) return skipString(raw, start);
  let depth = 0;
  let i = start;
  while (i < raw.length) {
    const c = raw[i];
    if (c === 0x22) {
      i = skipString(raw, i);
      continue;
    }
    if (c === 0x7b || c === 0x5b) depth++;
    else if (c === 0x7d || c === 0x5d) {
      if (depth === 0) return i;
      depth--;
      if (depth === 0) return i + 1;
    } else if (depth === 0 && (c === 0x2c || c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09)) return i;
    i++;
  }
  return i;
}

/**
 * Replaces the value of a top-level string field in raw JSON bytes, leaving every other byte as
 * the client sent it (key order, whitespace, number spellings, escapes). Re-serialising instead
 * would be slower on 30 MB bodies and would not be the body the client sent.
 */
export function replaceTopLevelString(raw: Buffer, key: string, value: string): Buffer {
  const spans = findTopLevelValues(raw, key);
  if (spans.length === 0) return raw;
  const encoded = Buffer.from(JSON.stringify(value));
  const parts: Buffer[] = [];
  let at = 0;
  for (const [start, end] of spans) {
    parts.push(raw.subarray(at, start), encoded);
    at = end;
  }
  parts.push(raw.subarray(at));
  return Buffer.concat(parts);
}

/** [start, end) byte spans of every value whose key at depth 1 equals `key`. */
export function findTopLevelValues(raw: Buffer, key: string): Array<[number, number]> {
  const spans: Array<[number, number]> = [];
  const quotedKey = Buffer.from(JSON.stringify(key));
  let depth = 0;
  let i = 0;
  const n = raw.length;
  let expectKey = false;
  while (i < n) {
    const c = raw[i];
    if (c === 0x22 /* " */) {
      const end = skipString(raw, i);
      if (depth === 1 && expectKey) {
        const isKey = end - i === quotedKey.length && raw.subarray(i, end).equals(quotedKey);
        i = end;
        while (i < n && raw[i] !== 0x3a /* : */) i++;
        i++;
        while (i < n && (raw[i] === 0x20 || raw[i] === 0x0a || raw[i] === 0x0d || raw[i] === 0x09)) i++;
        if (isKey) {
          const vEnd = skipValue(raw, i);
          spans.push([i, vEnd]);
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

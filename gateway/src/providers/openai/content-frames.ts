import { firstChoice } from './response';

/**
 * Most frames of a Chat Completions stream are text deltas that differ from each other only in
 * their `content` string: the same id, model, created, fingerprint and nulls around it, byte for
 * byte. Parsing each whole frame was the largest cost of a translated stream; once one such frame
 * has been parsed, the next ones that start and end with the same text around the content are
 * read by parsing only the string between.
 *
 * Why this reads exactly what JSON.parse of the frame gives: JSON is compositional, so a frame that
 * is `prefix + literal + suffix`, where `literal` parses on its own to a string, is the learned
 * frame with that string in the slot. The slot is checked once, when learned, by parsing the frame
 * with a probe string in it and finding the probe at `choices[0].delta.content` (not in another
 * field named `content`, and not overridden by a duplicate key after it), in a frame that carries
 * nothing else the translator reads (no usage, error, finish_reason, refusal, reasoning or tool
 * calls). Anything else, or a literal that is not exactly one string, is parsed in full as before.
 */
export class ContentFrames {
  private constructor(
    private readonly prefix: string,
    private readonly suffix: string,
  ) {}

  /** The content text of a frame of the learned shape, or undefined (parse the frame in full). */
  content(data: string): string | undefined {
    const { prefix, suffix } = this;
    const start = prefix.length;
    const end = data.length - suffix.length;
    if (end - start < 2 || !data.startsWith(prefix) || !data.endsWith(suffix)) return undefined;
    if (data.charCodeAt(start) !== 34 || data.charCodeAt(end - 1) !== 34) return undefined;
    // Without escapes the string is the text between the quotes (JSON.parse, ~0.3 µs a call, only
    // when there is a backslash); a bare quote or control character is not one valid literal.
    for (let i = start + 1; i < end - 1; i++) {
      const c = data.charCodeAt(i);
      if (c === 92) return parseString(data.slice(start, end));
      if (c === 34 || c < 32) return undefined;
    }
    return data.slice(start + 1, end - 1);
  }

  /** The shape of `data` (already parsed as `chunk`), if it is a plain text delta. */
  static learn(data: string, chunk: unknown): ContentFrames | undefined {
    if (!plainText(chunk)) return undefined;
    const key = data.indexOf('"content":"');
    if (key < 0) return undefined;
    const start = key + 10; // the literal's opening quote
    const end = stringEnd(data, start + 1);
    if (end < 0) return undefined;
    const prefix = data.slice(0, start);
    const suffix = data.slice(end + 1);
    let probe: unknown;
    try {
      probe = JSON.parse(`${prefix}"\\u0000probe"${suffix}`);
    } catch {
      return undefined;
    }
    if (!plainText(probe) || firstChoice((probe as any).choices).delta.content !== '\u0000probe') return undefined;
    return new ContentFrames(prefix, suffix);
  }
}

function parseString(literal: string): string | undefined {
  try {
    const text: unknown = JSON.parse(literal);
    return typeof text === 'string' ? text : undefined;
  } catch {
    return undefined;
  }
}

/** A chunk whose only effect on the translation is its first choice's `delta.content` string. */
function plainText(c: any): boolean {
  if (c === null || typeof c !== 'object' || Array.isArray(c) || c.error || c.usage) return false;
  const choice = firstChoice(c.choices);
  if (!choice || typeof choice !== 'object' || choice.finish_reason) return false;
  const d = choice.delta;
  if (d === null || typeof d !== 'object' || typeof d.content !== 'string') return false;
  for (const k in d) if (k !== 'content') return false;
  return true;
}

/** The index of the quote closing the JSON string whose body starts at `from`, or -1. */
function stringEnd(s: string, from: number): number {
  for (let i = from; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 34) return i;
    if (c === 92) i++;
  }
  return -1;
}

import { createHash, randomBytes } from 'node:crypto';

/**
 * Ids between the two APIs. The gateway keeps no state between requests, so a tool call's id
 * must carry the upstream's id inside it: when the client later sends the tool_result back, the
 * upstream gets the very id it issued (some servers, e.g. Mistral under vLLM, insist on their own
 * format). Two reversible forms:
 *   call_<alnum>      ⇄ toolu_<alnum>        (OpenAI's own ids: short and readable)
 *   anything else     ⇄ toolu__<base64url>   (the double underscore marks the encoded form)
 * Anthropic's own ids (toolu_01…, from turns an Anthropic target answered) go upstream as
 * call_01…, which pairs the assistant's tool_calls with the tool messages just as well.
 */
const OPENAI_ID = /^call_([A-Za-z0-9]+)$/;
const PLAIN = /^toolu_([A-Za-z0-9]+)$/;
const ENCODED = /^toolu__([A-Za-z0-9_-]+)$/;
/** OpenAI rejects tool call ids longer than this. */
const MAX_UPSTREAM_ID = 40;

export function toAnthropicToolId(upstreamId: string): string {
  const m = OPENAI_ID.exec(upstreamId);
  return m ? `toolu_${m[1]}` : `toolu__${Buffer.from(upstreamId, 'utf8').toString('base64url')}`;
}

export function toUpstreamToolId(id: string): string {
  const enc = ENCODED.exec(id);
  if (enc) {
    // The upstream issued it, so the upstream accepts it, whatever its length.
    const decoded = Buffer.from(enc[1], 'base64url').toString('utf8');
    if (decoded && Buffer.from(decoded, 'utf8').toString('base64url') === enc[1]) return decoded;
  }
  const plain = PLAIN.exec(id);
  const out = plain ? `call_${plain[1]}` : id;
  // A client-made id too long for OpenAI: a hash keeps the pairing (same input, same output).
  return out.length > MAX_UPSTREAM_ID ? `call_${base62(createHash('sha256').update(out).digest(), 24)}` : out;
}

/** A tool id for a call the upstream sent without one, stable across stream and non-stream. */
export function inventToolId(seed: string, index: number): string {
  return `toolu_${base62(createHash('sha256').update(`${seed}#${index}`).digest(), 24)}`;
}

/** `msg_…` from the completion id (so logs on both sides line up), or a random one. */
export function messageId(upstreamId: unknown): string {
  const s = typeof upstreamId === 'string' ? upstreamId.replace(/^chatcmpl-/, '').replace(/[^A-Za-z0-9_-]/g, '') : '';
  return `msg_${s || base62(randomBytes(24), 24)}`;
}

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
function base62(bytes: Buffer, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += ALPHABET[bytes[i % bytes.length] % 62];
  return s;
}

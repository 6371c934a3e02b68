import { randomBytes } from 'node:crypto';

/**
 * Ids and thought signatures. The gateway is stateless, so everything Gemini needs back on the
 * next turn has to ride inside fields an Anthropic client echoes unchanged:
 *
 * - A thought signature on a thought part travels in the `thinking` block's `signature`.
 * - A signature on a `functionCall` part (the one Gemini 3 enforces) and Gemini's own call id
 *   travel inside the `tool_use` id. Clients keep tool ids even when they drop thinking blocks,
 *   and the id stays within Anthropic's `[A-Za-z0-9_-]` alphabet, so another upstream accepts it.
 *
 * Signatures are bound to the model that made them (Gemini answers 400 "Corrupted thought
 * signature" otherwise), so each one is stored with that model and only replayed to it.
 */

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

export function randomId(length: number): string {
  const bytes = randomBytes(length);
  let s = '';
  for (let i = 0; i < length; i++) s += ALPHABET[bytes[i] % 62];
  return s;
}

/** `msg_` + Gemini's responseId when it is id-safe (so logs correlate), else random. */
export function messageId(responseId: string | undefined): string {
  return responseId && /^[A-Za-z0-9_-]{1,128}$/.test(responseId) ? `msg_${responseId}` : `msg_${randomId(24)}`;
}

export interface CallMeta {
  /** Gemini's functionCall id, when the model made one (only such ids may be sent back). */
  id?: string;
  signature?: string;
  /** The model the signature belongs to. */
  model?: string;
}

const TOOL_PREFIX = 'toolu_gx';

/** A `toolu_` id; plain random when there is nothing to carry. */
export function encodeToolUseId(meta: CallMeta): string {
  if (!meta.id && !meta.signature) return `toolu_${randomId(24)}`;
  // The random part keeps ids unique even when Gemini reuses its own ids across turns.
  const payload = { i: meta.id, s: meta.signature, m: meta.signature ? meta.model : undefined };
  return `${TOOL_PREFIX}${randomId(8)}_${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
}

/** What a tool_use id carries, or {} for ids this provider did not make (minted, Anthropic's, OpenAI's). */
export function decodeToolUseId(toolUseId: string): CallMeta {
  if (!toolUseId.startsWith(TOOL_PREFIX) || toolUseId[TOOL_PREFIX.length + 8] !== '_') return {};
  const p = parse(toolUseId.slice(TOOL_PREFIX.length + 9));
  return p ? { id: str(p.i), signature: str(p.s), model: str(p.m) } : {};
}

const SIG_PREFIX = 'gemini1.';

/** Whether a thinking block's signature is one this gateway wrapped around a Gemini thought signature. */
export function isGeminiSignature(value: unknown): boolean {
  return typeof value === 'string' && value.startsWith(SIG_PREFIX);
}

export function encodeSignature(model: string, signature: string): string {
  return SIG_PREFIX + Buffer.from(JSON.stringify({ m: model, s: signature })).toString('base64url');
}

/** The Gemini signature inside a thinking block's signature, if it was made by `model`. */
export function decodeSignature(value: unknown, model: string): string | undefined {
  if (typeof value !== 'string' || !value.startsWith(SIG_PREFIX)) return undefined;
  const p = parse(value.slice(SIG_PREFIX.length));
  return p && p.m === model ? str(p.s) : undefined;
}

function parse(b64: string): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(Buffer.from(b64, 'base64url').toString('utf8'));
    return v && typeof v === 'object' && !Array.isArray(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

const str = (v: unknown) => (typeof v === 'string' && v ? v : undefined);

import { TranslationError } from '../translation-error';
import { decodeSignature, decodeToolUseId } from './ids';
import type { Content, Part } from './wire';

/**
 * Anthropic `messages` → Gemini `contents`.
 *
 * Gemini knows only `user` and `model` turns, rejects empty text and empty turns, and wants the N
 * function responses of a call turn together in the next user turn. So blocks map to parts, empty
 * ones are dropped, consecutive same-role turns are merged, and within a user turn the function
 * responses come first.
 *
 * `role: "system"` messages (Claude Code sends them mid-conversation): those before the first
 * user/assistant message join `systemInstruction`; later ones become user-turn text wrapped in
 * `<system>…</system>` at the point where they were said. Moving them into systemInstruction
 * would lose when they were said and would change the prompt prefix on every new one (which
 * defeats Gemini's implicit prefix caching).
 */
export interface ContentsContext {
  /** The upstream model: signatures are replayed only to the model that made them. */
  model: string;
  signatureBypass: boolean;
}

/** Google's documented value for a call whose real signature is unavailable (Gemini 3 checks the current turn). */
export const SIGNATURE_BYPASS = 'skip_thought_signature_validator';

export function toContents(messages: any[], ctx: ContentsContext): { contents: Content[]; system: string[] } {
  const names = toolNames(messages);
  const system: string[] = [];
  const turns: Content[] = [];
  let leading = true;
  messages.forEach((msg, i) => {
    if (msg.role === 'system') {
      const text = systemText(msg.content, `messages.${i}.content`);
      if (!text) return;
      if (leading) system.push(text);
      else turns.push({ role: 'user', parts: [{ text: `<system>\n${text}\n</system>` }] });
      return;
    }
    leading = false;
    if (msg.role !== 'user' && msg.role !== 'assistant') {
      throw new TranslationError(`messages.${i}.role: '${msg.role}' has no Gemini equivalent (user, assistant and system do)`);
    }
    const blocks: any[] = typeof msg.content === 'string' ? [{ type: 'text', text: msg.content }] : msg.content;
    const parts: Part[] = [];
    blocks.forEach((b, j) => blockParts(b, `messages.${i}.content.${j}`, parts, names, ctx));
    if (parts.length) turns.push({ role: msg.role === 'user' ? 'user' : 'model', parts });
  });
  const contents = merge(turns);
  if (ctx.signatureBypass) for (const c of contents) if (c.role === 'model') bypassSignature(c);
  return { contents, system };
}

function blockParts(b: any, path: string, parts: Part[], names: Map<string, string>, ctx: ContentsContext): void {
  switch (b.type) {
    case 'text':
      if (b.text) parts.push({ text: b.text });
      return;
    case 'image':
      parts.push(imagePart(b.source, `${path}.source`));
      return;
    case 'document':
      parts.push(...documentParts(b, `${path}.source`, names, ctx));
      return;
    case 'search_result': {
      const text = [b.title, ...(Array.isArray(b.content) ? b.content.map((c: any) => c?.text) : [])].filter((t) => typeof t === 'string' && t).join('\n');
      if (text) parts.push({ text });
      return;
    }
    case 'tool_use': {
      const meta = decodeToolUseId(b.id);
      const part: Part = { functionCall: { ...(meta.id ? { id: meta.id } : {}), name: b.name, args: b.input ?? {} } };
      if (meta.signature && meta.model === ctx.model) part.thoughtSignature = meta.signature;
      parts.push(part);
      return;
    }
    case 'tool_result':
      parts.push(...toolResultParts(b, path, names, ctx));
      return;
    case 'thinking': {
      const signature = decodeSignature(b.signature, ctx.model);
      if (b.thinking) {
        parts.push({ text: b.thinking, thought: true, ...(signature ? { thoughtSignature: signature } : {}) });
      } else if (signature) {
        // An empty thinking block carries the signature of the part before it (see stream.ts).
        const prev = parts[parts.length - 1];
        if (prev && !prev.thoughtSignature) prev.thoughtSignature = signature;
      }
      return;
    }
    case 'redacted_thinking':
      return; // Anthropic-encrypted reasoning: nothing Gemini can read, and never to be shown as text
    default:
      throw new TranslationError(`${path}.type: '${b.type}' content blocks cannot be sent to a Gemini model`);
  }
}

function toolResultParts(b: any, path: string, names: Map<string, string>, ctx: ContentsContext): Part[] {
  const name = names.get(b.tool_use_id);
  if (!name) throw new TranslationError(`${path}.tool_use_id: no assistant tool_use block has the id '${b.tool_use_id}'`);
  const texts: string[] = [];
  const media: Part[] = [];
  if (typeof b.content === 'string') texts.push(b.content);
  else if (Array.isArray(b.content)) {
    b.content.forEach((c: any, k: number) => {
      if (c?.type === 'text') texts.push(c.text);
      else blockParts(c, `${path}.content.${k}`, media, names, ctx);
    });
  }
  // Images and documents ride beside the response in the same user turn: every Gemini model
  // accepts that, while `functionResponse.parts` is only understood by the newest ones.
  const output = texts.join('\n');
  const meta = decodeToolUseId(b.tool_use_id);
  const response = b.is_error ? { error: output } : { output };
  return [{ functionResponse: { ...(meta.id ? { id: meta.id } : {}), name, response } }, ...media];
}

const GEMINI_IMAGE_TYPES = 'image/png, image/jpeg, image/webp, image/heic and image/heif';

function imagePart(source: any, path: string): Part {
  if (source.type === 'base64') {
    if (source.media_type === 'image/gif') throw new TranslationError(`${path}.media_type: Gemini does not accept image/gif; send ${GEMINI_IMAGE_TYPES}`);
    return { inlineData: { mimeType: source.media_type, data: source.data } };
  }
  if (source.type === 'url') {
    const data = /^data:([^;,]+);base64,(.*)$/s.exec(source.url);
    if (data) return imagePart({ type: 'base64', media_type: data[1], data: data[2] }, path);
    const mimeType = mimeFromUrl(source.url);
    if (mimeType === 'image/gif') throw new TranslationError(`${path}.url: Gemini does not accept image/gif; send ${GEMINI_IMAGE_TYPES}`);
    return { fileData: { ...(mimeType ? { mimeType } : {}), fileUri: source.url } };
  }
  throw unsupportedSource(source, path);
}

function documentParts(b: any, path: string, names: Map<string, string>, ctx: ContentsContext): Part[] {
  const source = b.source;
  switch (source.type) {
    case 'base64':
      return [{ inlineData: { mimeType: source.media_type, data: source.data } }];
    case 'url':
      return [{ fileData: { mimeType: 'application/pdf', fileUri: source.url } }];
    case 'text':
      return source.data ? [{ text: typeof b.title === 'string' && b.title ? `${b.title}\n\n${source.data}` : source.data }] : [];
    case 'content': {
      if (typeof source.content === 'string') return source.content ? [{ text: source.content }] : [];
      const parts: Part[] = [];
      source.content.forEach((c: any, k: number) => blockParts(c, `${path}.content.${k}`, parts, names, ctx));
      return parts;
    }
    default:
      throw unsupportedSource(source, path);
  }
}

function unsupportedSource(source: any, path: string): TranslationError {
  if (source.type === 'file')
    return new TranslationError(`${path}: Anthropic Files API sources (file_id) cannot be read by Gemini; send the content as base64 or a URL`);
  return new TranslationError(`${path}.type: '${source.type}' sources cannot be sent to a Gemini model`);
}

const EXTENSIONS: Record<string, string> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  webp: 'image/webp',
  heic: 'image/heic',
  heif: 'image/heif',
  gif: 'image/gif',
  pdf: 'application/pdf',
};

function mimeFromUrl(url: string): string | undefined {
  let pathname = url;
  try {
    pathname = new URL(url).pathname;
  } catch {
    /* not a URL Gemini will fetch either; let it say so */
  }
  const ext = /\.([A-Za-z0-9]+)$/.exec(pathname)?.[1]?.toLowerCase();
  return ext ? EXTENSIONS[ext] : undefined;
}

function systemText(content: unknown, path: string): string {
  if (typeof content === 'string') return content;
  return (content as any[])
    .map((b, k) => {
      if (b.type !== 'text') throw new TranslationError(`${path}.${k}.type: system messages can only hold text for a Gemini model`);
      return b.text;
    })
    .filter((t) => t)
    .join('\n\n');
}

function toolNames(messages: any[]): Map<string, string> {
  const names = new Map<string, string>();
  for (const m of messages) {
    if (m.role !== 'assistant' || !Array.isArray(m.content)) continue;
    for (const b of m.content) if (b?.type === 'tool_use') names.set(b.id, b.name);
  }
  return names;
}

function merge(turns: Content[]): Content[] {
  const out: Content[] = [];
  for (const t of turns) {
    const last = out[out.length - 1];
    if (last && last.role === t.role) last.parts.push(...t.parts);
    else out.push({ role: t.role, parts: [...t.parts] });
  }
  for (const c of out) {
    if (c.role === 'user') c.parts = [...c.parts.filter((p) => p.functionResponse), ...c.parts.filter((p) => !p.functionResponse)];
  }
  return out;
}

function bypassSignature(c: Content): void {
  const calls = c.parts.filter((p) => p.functionCall);
  if (calls.length && !calls.some((p) => p.thoughtSignature)) calls[0].thoughtSignature = SIGNATURE_BYPASS;
}

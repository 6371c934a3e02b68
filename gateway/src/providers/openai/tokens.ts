import { Tiktoken } from 'js-tiktoken/lite';
import { imageSize } from './image-size';
import type { OpenAIOptions } from './options';

/**
 * count_tokens for OpenAI-compatible targets, which have no counting endpoint: the translated
 * Chat Completions body, counted with tiktoken plus OpenAI's documented framing (3 tokens per
 * message, 3 to prime the reply) and image pricing. Exact for text on OpenAI's own models; tool
 * definitions and PDFs are estimates; open-weight models use other tokenizers, so there it is an
 * approximation (README: "OpenAI-compatible targets").
 */
export function countChatTokens(chat: Record<string, any>, opts: OpenAIOptions): number {
  const enc = encoder(opts.tokenizer ?? encodingFor(String(chat.model ?? '')));
  const count = (s: string) => (s ? enc.encode(s, [], []).length : 0);
  let n = 3;
  for (const m of chat.messages as any[]) {
    n += 3 + count(m.role);
    if (typeof m.name === 'string') n += 1 + count(m.name);
    n += contentTokens(m.content, count);
    for (const field of ['reasoning_content', 'reasoning']) if (typeof m[field] === 'string') n += count(m[field]);
    for (const c of m.tool_calls ?? []) n += 3 + count(c.function?.name ?? '') + count(c.function?.arguments ?? '');
  }
  // OpenAI renders tools into an undocumented preamble; their JSON is a close, slightly high estimate.
  if (Array.isArray(chat.tools) && chat.tools.length) n += 12 + count(JSON.stringify(chat.tools.map((t: any) => t.function)));
  return n;
}

function contentTokens(content: unknown, count: (s: string) => number): number {
  if (typeof content === 'string') return count(content);
  if (!Array.isArray(content)) return 0;
  let n = 0;
  for (const p of content) {
    if (p.type === 'text') n += count(p.text);
    else if (p.type === 'image_url') n += imageTokens(p.image_url.url);
    else if (p.type === 'file') n += pdfTokens(p.file.file_data);
  }
  return n;
}

/**
 * GPT-4o-class vision pricing at `detail: auto`: fit in 2048×2048, shortest side to 768, then
 * 85 + 170 per 512-px tile. Images by URL are not fetched; they count as 1024×1024 (765).
 */
export function imageTokens(url: string): number {
  const m = /^data:[^;,]+;base64,/.exec(url);
  const size = m ? imageSize(url.slice(m[0].length)) : undefined;
  if (!size || !size.width || !size.height) return 765;
  let { width: w, height: h } = size;
  const fit = Math.min(1, 2048 / Math.max(w, h));
  w *= fit;
  h *= fit;
  const shrink = Math.min(1, 768 / Math.min(w, h));
  w *= shrink;
  h *= shrink;
  return 85 + 170 * Math.ceil(w / 512) * Math.ceil(h / 512);
}

/** OpenAI gives the model each PDF page as extracted text plus an image; ~1,000 tokens a page is a rough middle. */
const TOKENS_PER_PDF_PAGE = 1000;

function pdfTokens(dataUrl: string): number {
  const b64 = dataUrl.slice(dataUrl.indexOf(',') + 1);
  const pages =
    Buffer.from(b64, 'base64')
      .toString('latin1')
      .match(/\/Type\s*\/Page(?!s)/g)?.length ?? 1;
  return pages * TOKENS_PER_PDF_PAGE;
}

/** tiktoken's model table (model.py): o200k_base for GPT-4o and later, cl100k_base for GPT-4 and 3.5. */
export function encodingFor(model: string): 'o200k_base' | 'cl100k_base' {
  const m = model.toLowerCase();
  if (/^(gpt-4o|chatgpt-4o|gpt-4\.[15]|gpt-5|o\d|gpt-oss)/.test(m)) return 'o200k_base';
  if (/^(gpt-4|gpt-3\.5|gpt-35)/.test(m)) return 'cl100k_base';
  return 'o200k_base';
}

// Encoders are immutable and take ~0.5 s to build, so each is built once, on first use.
const encoders = new Map<string, Tiktoken>();
function encoder(name: 'o200k_base' | 'cl100k_base'): Tiktoken {
  let e = encoders.get(name);
  if (!e) {
    const ranks = name === 'o200k_base' ? require('js-tiktoken/ranks/o200k_base') : require('js-tiktoken/ranks/cl100k_base');
    e = new Tiktoken(ranks.default ?? ranks);
    encoders.set(name, e);
  }
  return e;
}

/**
 * A cheap estimate of a Messages request's input tokens, used only to decide admission against
 * `inputTokensPerMinute`; what is debited in the end is the count the upstream reports.
 *
 * How: UTF-8 bytes of the text the model reads (system, messages, tool definitions, tool inputs
 * and results) divided by 3.5, plus small fixed overheads. Anthropic's rule of thumb is ~3.5
 * English characters per token; counting bytes rather than characters makes non-Latin scripts
 * (3 bytes a character in UTF-8, about a token each) come out near right instead of 3× low.
 * Expected accuracy: English prose and code within roughly ±25%; JSON-heavy tool schemas are
 * under-counted (their punctuation tokenizes densely); images count 1,600 tokens each (what a
 * ~1.15-megapixel image costs; smaller ones cost less, so this over-counts them), and base64 PDFs
 * a rough ~1,500 tokens per 100 KB. It was not calibrated against the real tokenizer here.
 * Cost: one walk over the parsed body; base64 payloads are measured, never decoded.
 */

const BYTES_PER_TOKEN = 3.5;
/** Role and turn framing per message. */
const PER_MESSAGE = 4;
/** The tool-use system prompt Anthropic adds when `tools` is present (~350 tokens on Claude 4). */
const TOOLS_PREAMBLE = 350;
const IMAGE_TOKENS = 1600;
const PDF_TOKENS_PER_BYTE = 1500 / 100_000;
const DOCUMENT_URL_TOKENS = 3000;

/** Fields that carry no text the model reads as input (ids, enums, opaque signatures, base64). */
const SKIP = new Set(['type', 'id', 'tool_use_id', 'media_type', 'cache_control', 'signature', 'data', 'citations', 'role', 'file_id']);

export function estimateInputTokens(body: Record<string, any> | undefined): number {
  if (!body) return 0;
  const acc = { bytes: 0, tokens: 0 };
  walk(body.system, acc);
  walk(body.messages, acc);
  walk(body.tools, acc);
  walk(body.tool_choice, acc);
  if (Array.isArray(body.messages)) acc.tokens += PER_MESSAGE * body.messages.length;
  if (Array.isArray(body.tools) && body.tools.length) acc.tokens += TOOLS_PREAMBLE;
  return Math.ceil(acc.bytes / BYTES_PER_TOKEN + acc.tokens);
}

function walk(v: unknown, acc: { bytes: number; tokens: number }): void {
  if (typeof v === 'string') {
    acc.bytes += Buffer.byteLength(v, 'utf8');
    return;
  }
  if (typeof v === 'number' || typeof v === 'boolean') {
    acc.bytes += 2;
    return;
  }
  if (!v || typeof v !== 'object') return;
  if (Array.isArray(v)) {
    for (const x of v) walk(x, acc);
    return;
  }
  const o = v as Record<string, unknown>;
  if (o.type === 'image') {
    acc.tokens += IMAGE_TOKENS;
    return;
  }
  if (o.type === 'document') {
    const src = o.source as Record<string, any> | undefined;
    if (src?.type === 'base64' && typeof src.data === 'string') acc.tokens += Math.max(IMAGE_TOKENS, Math.round(src.data.length * 0.75 * PDF_TOKENS_PER_BYTE));
    else if (src?.type === 'url' || src?.type === 'file') acc.tokens += DOCUMENT_URL_TOKENS;
    else if (src?.type === 'text' && typeof src.data === 'string') acc.bytes += Buffer.byteLength(src.data, 'utf8');
    // `content` sources are blocks: counted by the walk below
  }
  for (const k in o) {
    if (SKIP.has(k)) continue;
    // Object keys of tool schemas and tool inputs are text the model reads too.
    if (typeof o[k] !== 'undefined') acc.bytes += k.length;
    walk(o[k], acc);
  }
}

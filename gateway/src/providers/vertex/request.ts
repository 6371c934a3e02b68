import { dropFields } from '../drop-fields';
import { vertexBaseURL } from '../../config/cloud-endpoints';

/**
 * Anthropic Messages body → Vertex AI rawPredict body and URLs (Claude on publisher `anthropic`),
 * plus the URLs of Gemini on Vertex (publisher `google`). Pure; the wiring owns HTTP and auth.
 */

export const VERTEX_ANTHROPIC_VERSION = 'vertex-2023-10-16';

/**
 * Fields Vertex refuses with "Extra inputs are not permitted" (dot paths, `[]` walks an array).
 * `cache_control.scope` rides with the prompt-caching-scope beta, which Vertex does not know (and
 * the default beta list drops); `eager_input_streaming` is the GA form of fine-grained tool
 * streaming, which Vertex does not offer. Neither changes what the model answers.
 */
export const DEFAULT_VERTEX_DROP_FIELDS: readonly string[] = [
  'system[].cache_control.scope',
  'messages[].content[].cache_control.scope',
  'tools[].cache_control.scope',
  'tools[].eager_input_streaming',
];

/**
 * Betas Vertex accepts in the `anthropic-beta` header. It answers 400 "Unexpected value(s) … for
 * the `anthropic-beta` header" to any other (Claude Code sends claude-code-*, prompt-caching-scope-*,
 * effort-*, which Vertex refuses), so only these are forwarded unless a target configures its own
 * list. An entry ending in `*` is a prefix.
 */
export const DEFAULT_VERTEX_BETAS: readonly string[] = [
  'interleaved-thinking-2025-05-14',
  'context-management-2025-06-27',
  'context-1m-2025-08-07',
  'computer-use-*',
  'tool-search-tool-2025-10-19',
  'web-search-2025-03-05',
];

export { vertexBaseURL };

export interface VertexTarget {
  project: string;
  region: string;
  /** Overrides the host and `/v1` root (tests, Private Service Connect). */
  baseURL?: string;
}

function modelsRoot(t: VertexTarget, publisher: 'anthropic' | 'google'): string {
  const base = (t.baseURL ?? vertexBaseURL(t.region)).replace(/\/+$/, '');
  return `${base}/projects/${encodeURIComponent(t.project)}/locations/${encodeURIComponent(t.region)}/publishers/${publisher}/models`;
}

/** `@` stays literal: Vertex model ids are `claude-sonnet-4-5@20250929`. */
function encodeModel(model: string): string {
  return model.replace(/[^A-Za-z0-9\-._~!$&'()*+,;=:@]+/g, encodeURIComponent);
}

export function claudeURL(t: VertexTarget, model: string, stream: boolean): string {
  return `${modelsRoot(t, 'anthropic')}/${encodeModel(model)}:${stream ? 'streamRawPredict' : 'rawPredict'}`;
}

export function claudeCountTokensURL(t: VertexTarget): string {
  return `${modelsRoot(t, 'anthropic')}/count-tokens:rawPredict`;
}

export function geminiURL(t: VertexTarget, model: string, op: 'generateContent' | 'streamGenerateContent' | 'countTokens'): string {
  return `${modelsRoot(t, 'google')}/${encodeModel(model)}:${op}${op === 'streamGenerateContent' ? '?alt=sse' : ''}`;
}

/**
 * The rawPredict body: `model` removed (it is in the URL), `stream` kept (Vertex reads it from the
 * body; the SDK leaves it), the Vertex `anthropic_version`. Betas stay in the `anthropic-beta`
 * header, which Vertex forwards; the SDK does not filter them.
 */
export function toVertexBody(body: Record<string, unknown>, fields: readonly string[] = DEFAULT_VERTEX_DROP_FIELDS): Record<string, unknown> {
  const out: Record<string, unknown> = structuredClone(body);
  delete out.model;
  out.anthropic_version = VERTEX_ANTHROPIC_VERSION;
  dropFields(out, fields);
  return out;
}

/** count-tokens:rawPredict keeps `model` in the body (the URL names no model). */
export function toVertexCountTokensBody(
  body: Record<string, unknown>,
  model: string,
  fields: readonly string[] = DEFAULT_VERTEX_DROP_FIELDS,
): Record<string, unknown> {
  const out = toVertexBody(body, fields);
  out.model = model.replace(/@latest$/, '');
  return out;
}

/**
 * Vertex refuses document blocks with a URL source (the SDK refuses them client-side); the gateway
 * must answer 400 itself rather than relay Vertex's less clear refusal. Returns the message, or
 * undefined when the body is acceptable.
 */
export function unsupportedContent(body: Record<string, unknown>): string | undefined {
  const messages = body.messages;
  if (!Array.isArray(messages)) return undefined;
  const bad = (b: any) => b && typeof b === 'object' && b.type === 'document' && b.source?.type === 'url';
  for (const m of messages) {
    if (!Array.isArray(m?.content)) continue;
    for (const block of m.content) {
      if (bad(block) || (block?.type === 'tool_result' && Array.isArray(block.content) && block.content.some(bad))) {
        return 'Vertex AI does not support URL sources for document content blocks; send base64 or text sources';
      }
    }
  }
  return undefined;
}

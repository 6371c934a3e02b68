import { dropFields } from '../drop-fields';

/**
 * Anthropic Messages body → Bedrock InvokeModel body and URL paths. Pure: the provider that wires
 * this in (on the provider skeleton) owns the HTTP call and the signing.
 */

export const BEDROCK_ANTHROPIC_VERSION = 'bedrock-2023-05-31';

/**
 * Betas Bedrock accepts in `anthropic_beta`. It answers 400 to any beta it does not know, and
 * Claude Code sends several that are Anthropic-only (claude-code-*, oauth-*, prompt-caching-scope-*),
 * so only these are forwarded unless a route configures its own list. An entry ending in `*` is a
 * prefix.
 */
export const DEFAULT_BEDROCK_BETAS: readonly string[] = [
  'interleaved-thinking-2025-05-14',
  'context-management-2025-06-27',
  'fine-grained-tool-streaming-2025-05-14',
  'token-efficient-tools-2025-02-19',
  'context-1m-2025-08-07',
  'computer-use-*',
  'effort-2025-11-24',
  'tool-search-tool-2025-10-19',
];

/**
 * Fields Bedrock refuses with "Extra inputs are not permitted". A path is dot-separated; `[]` walks
 * every element of an array (`tools[].eager_input_streaming`).
 */
export const DEFAULT_BEDROCK_DROP_FIELDS: readonly string[] = ['tools[].eager_input_streaming'];

export interface BedrockRequestOptions {
  betas?: readonly string[];
  dropFields?: readonly string[];
}

/** The comma-separated `anthropic-beta` header(s) as a list, filtered to the allowlist. */
export function filterBetas(header: string | readonly string[] | undefined, allow: readonly string[]): string[] {
  const raw = header === undefined ? [] : typeof header === 'string' ? [header] : header;
  const out: string[] = [];
  for (const b of raw
    .flatMap((h) => h.split(','))
    .map((s) => s.trim())
    .filter(Boolean)) {
    if (!out.includes(b) && betaAllowed(b, allow)) out.push(b);
  }
  return out;
}

function betaAllowed(beta: string, allow: readonly string[]): boolean {
  return allow.some((a) => (a.endsWith('*') ? beta.startsWith(a.slice(0, -1)) : a === beta));
}

/**
 * The InvokeModel body: no `model` (it is in the URL), no `stream` (the path says it), the Bedrock
 * `anthropic_version`, and the allowed betas as a body array (Bedrock ignores the header).
 */
export function toBedrockBody(
  body: Record<string, unknown>,
  betaHeader: string | readonly string[] | undefined,
  options: BedrockRequestOptions = {},
): Record<string, unknown> {
  const out: Record<string, unknown> = structuredClone(body);
  delete out.model;
  delete out.stream;
  delete out.anthropic_beta;
  out.anthropic_version = BEDROCK_ANTHROPIC_VERSION;
  const betas = filterBetas(betaHeader, options.betas ?? DEFAULT_BEDROCK_BETAS);
  if (betas.length > 0) out.anthropic_beta = betas;
  dropFields(out, options.dropFields ?? DEFAULT_BEDROCK_DROP_FIELDS);
  return out;
}

/**
 * A model id, inference profile or ARN as one path segment, encoded as the Bedrock SDK does: every
 * character outside RFC 3986 pchar is percent-encoded (so an ARN's `/` becomes %2F), `:` and `@`
 * stay. The SigV4 canonical URI is computed from exactly this string.
 */
export function encodeModelId(modelId: string): string {
  return modelId.replace(/[^A-Za-z0-9\-._~!$&'()*+,;=:@]+/g, encodeURIComponent);
}

export function invokePath(modelId: string, stream: boolean): string {
  return `/model/${encodeModelId(modelId)}/${stream ? 'invoke-with-response-stream' : 'invoke'}`;
}

export function countTokensPath(modelId: string): string {
  return `/model/${encodeModelId(baseModelId(modelId))}/count-tokens`;
}

/** Cross-region inference profiles (`us.anthropic…`) are not valid for count-tokens: strip the prefix. */
export function baseModelId(modelId: string): string {
  return modelId.replace(/^(us|eu|apac|global|us-gov|jp|au|ca)\.(?=anthropic\.)/, '');
}

/**
 * count-tokens wraps an InvokeModel body (base64). InvokeModel requires `max_tokens`, which a
 * count_tokens request lacks, so a placeholder is added when absent (it does not change the count).
 */
export function toCountTokensBody(invokeBody: Record<string, unknown>): { input: { invokeModel: { body: string } } } {
  const body = 'max_tokens' in invokeBody ? invokeBody : { ...invokeBody, max_tokens: 1 };
  return { input: { invokeModel: { body: Buffer.from(JSON.stringify(body), 'utf8').toString('base64') } } };
}

/** `{"inputTokens": N}` → Anthropic's count_tokens answer; undefined when the shape is wrong. */
export function fromCountTokensResponse(body: unknown): { input_tokens: number } | undefined {
  const n = (body as { inputTokens?: unknown } | null)?.inputTokens;
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 ? { input_tokens: n } : undefined;
}

import { createHash } from 'node:crypto';
import { toChatMessages } from './messages';
import type { OpenAIOptions } from './options';
import { toChatTools } from './tools';
import type { ChatCompletionRequest } from './wire';

/**
 * An Anthropic Messages request as a Chat Completions body. Fields with an equivalent map; those
 * without one (cache_control, context_management, container, service_tier, …) are dropped on
 * purpose, since they change cost or bookkeeping, not the answer. Throws TranslationError (→ 400)
 * for what the target cannot do.
 */
export function toChatRequest(req: Record<string, any>, model: string, opts: OpenAIOptions, stream: boolean): ChatCompletionRequest {
  const body: ChatCompletionRequest = {
    model,
    messages: toChatMessages(req.system, req.messages ?? [], opts),
    ...toChatTools(req.tools, req.tool_choice),
    n: 1,
  };
  if (typeof req.max_tokens === 'number') {
    const max = Math.max(1, opts.maxOutputTokens ? Math.min(req.max_tokens, opts.maxOutputTokens) : req.max_tokens);
    body[opts.maxTokensField] = max;
  }
  if (typeof req.temperature === 'number') body.temperature = req.temperature;
  if (typeof req.top_p === 'number') body.top_p = req.top_p;
  if (typeof req.top_k === 'number' && opts.topK) body.top_k = req.top_k;
  if (Array.isArray(req.stop_sequences) && req.stop_sequences.length) body.stop = req.stop_sequences;
  const user = req.metadata?.user_id;
  if (typeof user === 'string' && user && opts.userField) body[opts.userField] = userId(user);
  const effort = opts.reasoningEffort ? reasoningEffort(req) : undefined;
  if (effort) body.reasoning_effort = effort;
  const format = req.output_config?.format ?? req.output_format;
  if (format?.type === 'json_schema' && format.schema) body.response_format = { type: 'json_schema', json_schema: { name: 'response', schema: format.schema } };
  if (stream) {
    body.stream = true;
    body.stream_options = { include_usage: true };
  }
  return body;
}

/**
 * Anthropic's effort levels and thinking budgets on OpenAI's reasoning_effort scale:
 * `output_config.effort` low/medium/high map as named, xhigh/max → high (the highest level every
 * reasoning model accepts); otherwise `thinking.budget_tokens` < 4096 → low, < 16384 → medium,
 * else high. Adaptive or disabled thinking without an effort leaves the model's default.
 */
export function reasoningEffort(req: Record<string, any>): 'low' | 'medium' | 'high' | undefined {
  const e = req.output_config?.effort;
  if (e === 'low' || e === 'medium' || e === 'high') return e;
  if (e === 'xhigh' || e === 'max') return 'high';
  const t = req.thinking;
  if (t?.type === 'enabled' && typeof t.budget_tokens === 'number') return t.budget_tokens < 4096 ? 'low' : t.budget_tokens < 16384 ? 'medium' : 'high';
  return undefined;
}

/**
 * OpenAI caps end-user ids at 64 characters (safety_identifier) and Claude Code sends a JSON
 * blob; a longer id is replaced by its SHA-256, which still tells users apart without sending
 * the blob.
 */
function userId(id: string): string {
  return id.length <= 64 ? id : createHash('sha256').update(id).digest('hex');
}

import type { UsageMetadata } from './wire';

/** Gemini usage → Anthropic usage. promptTokenCount includes the cached part; output includes thoughts (both are billed as output). */
export function toUsage(u: UsageMetadata | undefined) {
  const prompt = u?.promptTokenCount ?? 0;
  const cached = u?.cachedContentTokenCount ?? 0;
  return {
    input_tokens: Math.max(0, prompt - cached) + (u?.toolUsePromptTokenCount ?? 0),
    output_tokens: (u?.candidatesTokenCount ?? 0) + (u?.thoughtsTokenCount ?? 0),
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: cached,
  };
}

const REFUSALS = new Set([
  'SAFETY',
  'RECITATION',
  'PROHIBITED_CONTENT',
  'BLOCKLIST',
  'SPII',
  'IMAGE_SAFETY',
  'IMAGE_PROHIBITED_CONTENT',
  'IMAGE_RECITATION',
  'MODEL_ARMOR',
  'JAILBREAK',
]);

export type Outcome = { stopReason: 'end_turn' | 'tool_use' | 'max_tokens' | 'refusal' } | { failure: string };

/**
 * finishReason → stop_reason. Gemini reports a stop-sequence hit as plain STOP and does not say
 * which sequence matched, so `stop_sequence` cannot be told apart from a natural end and is
 * reported as end_turn. Finishes that mean "the model produced nothing usable" (a malformed
 * function call, OTHER…) are failures when nothing was written, so the gateway can retry them.
 */
export function toOutcome(finishReason: string, sawFunctionCall: boolean, wroteContent: boolean, finishMessage?: string): Outcome {
  if (finishReason === 'STOP') return { stopReason: sawFunctionCall ? 'tool_use' : 'end_turn' };
  if (finishReason === 'MAX_TOKENS') return { stopReason: 'max_tokens' };
  if (REFUSALS.has(finishReason)) return { stopReason: 'refusal' };
  if (wroteContent) return { stopReason: sawFunctionCall ? 'tool_use' : 'end_turn' };
  return { failure: `Gemini finished with ${finishReason} and no content${finishMessage ? `: ${finishMessage}` : ''}` };
}

import type { Target } from '../../core/routes';

/**
 * A Gemini target's `options` (free-form in the ModelRoute), resolved against its model. "auto"
 * choices follow the model generation because Gemini's accepted request shapes differ by it.
 */
export interface GeminiOptions {
  /** `parametersJsonSchema` (plain JSON Schema) or down-converted OpenAPI `parameters`. */
  toolSchema: 'jsonSchema' | 'openapi';
  /** `thinkingBudget` (2.5) or `thinkingLevel` (3.x). */
  thinking: 'budget' | 'level';
  /** Overrides whether thought summaries are asked for; unset follows the request's `thinking`. */
  includeThoughts?: boolean;
  /** Upper bound applied to `max_tokens` (clients such as Claude Code ask for more than some models allow). */
  maxOutputTokens?: number;
  /** When set, every harm category gets this threshold (e.g. BLOCK_ONLY_HIGH, BLOCK_NONE, OFF). */
  safetyThreshold?: string;
  /**
   * Gemini 3 rejects a current-turn function call without a thought signature. History that never
   * came from this model (another provider, a fallback, a compacted transcript) has none, so such
   * calls get Google's documented bypass value instead.
   */
  signatureBypass: boolean;
}

/** `gemini-2.5-flash` → 2.5, `models/gemini-3-pro-preview` → 3; undefined for aliases like `gemini-flash-latest`. */
export function modelGeneration(model: string): number | undefined {
  const m = /gemini-(\d+(?:\.\d+)?)/.exec(model);
  return m ? Number(m[1]) : undefined;
}

export function geminiOptions(target: Pick<Target, 'model' | 'options'>): GeminiOptions {
  const o = target.options ?? {};
  const gen = modelGeneration(target.model);
  // Unknown names (aliases such as gemini-flash-latest) are treated as current models, except for
  // thinking: 3.x still accepts thinkingBudget, while 2.5 rejects thinkingLevel.
  const jsonSchemaOk = gen === undefined || gen >= 2.5;
  const levels = gen !== undefined && gen >= 3;
  return {
    toolSchema: o.toolSchema === 'openapi' || o.toolSchema === 'jsonSchema' ? o.toolSchema : jsonSchemaOk ? 'jsonSchema' : 'openapi',
    thinking: o.thinking === 'budget' || o.thinking === 'level' ? o.thinking : levels ? 'level' : 'budget',
    includeThoughts: typeof o.includeThoughts === 'boolean' ? o.includeThoughts : undefined,
    maxOutputTokens: typeof o.maxOutputTokens === 'number' && o.maxOutputTokens > 0 ? o.maxOutputTokens : undefined,
    safetyThreshold: typeof o.safetyThreshold === 'string' && o.safetyThreshold ? o.safetyThreshold : undefined,
    signatureBypass: typeof o.signatureBypass === 'boolean' ? o.signatureBypass : gen === undefined || gen >= 3,
  };
}

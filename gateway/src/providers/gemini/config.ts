import { TranslationError } from '../translation-error';
import { modelGeneration, type GeminiOptions } from './options';
import type { GenerateContentRequest, GenerationConfig, ThinkingConfig } from './wire';

/**
 * Sampling and thinking → `generationConfig` (and `safetySettings`). Fields with no Gemini
 * equivalent (`metadata.user_id`, `cache_control`, `context_management`, `service_tier`, …) are
 * dropped: Gemini rejects unknown fields, and none of them changes what the model writes.
 */
export function toGenerationConfig(body: any, model: string, opts: GeminiOptions): Pick<GenerateContentRequest, 'generationConfig' | 'safetySettings'> {
  const g: GenerationConfig = {};
  if (typeof body.max_tokens === 'number') g.maxOutputTokens = opts.maxOutputTokens ? Math.min(body.max_tokens, opts.maxOutputTokens) : body.max_tokens;
  if (typeof body.temperature === 'number') g.temperature = body.temperature;
  if (typeof body.top_p === 'number') g.topP = body.top_p;
  if (typeof body.top_k === 'number') g.topK = body.top_k;
  if (Array.isArray(body.stop_sequences)) {
    const stops = body.stop_sequences.filter((s: unknown) => typeof s === 'string' && s !== '');
    if (stops.length > 5) throw new TranslationError(`stop_sequences: Gemini accepts at most 5 stop sequences, got ${stops.length}`);
    if (stops.length) g.stopSequences = stops;
  }
  const thinking = toThinkingConfig(body, model, opts);
  if (thinking) g.thinkingConfig = thinking;
  const out: Pick<GenerateContentRequest, 'generationConfig' | 'safetySettings'> = {};
  if (Object.keys(g).length) out.generationConfig = g;
  if (opts.safetyThreshold) out.safetySettings = HARM_CATEGORIES.map((category) => ({ category, threshold: opts.safetyThreshold! }));
  return out;
}

const HARM_CATEGORIES = ['HARM_CATEGORY_HARASSMENT', 'HARM_CATEGORY_HATE_SPEECH', 'HARM_CATEGORY_SEXUALLY_EXPLICIT', 'HARM_CATEGORY_DANGEROUS_CONTENT'];

/** Whether the client asked for thinking blocks (it then also gets the signatures that ride in them). */
export function thinkingRequested(body: any): boolean {
  return body.thinking?.type === 'enabled' || body.thinking?.type === 'adaptive';
}

const EFFORT_LEVEL: Record<string, ThinkingConfig['thinkingLevel']> = { low: 'LOW', medium: 'MEDIUM', high: 'HIGH', xhigh: 'HIGH', max: 'HIGH' };
// Google's own effort → budget table for its OpenAI-compatible endpoint (24576 is Flash's ceiling).
const EFFORT_BUDGET: Record<string, number> = { low: 1024, medium: 8192, high: 24576, xhigh: 24576, max: 24576 };

/**
 * Anthropic `thinking` / `output_config.effort` → thinkingConfig. 2.5 models take a token budget
 * (-1 = dynamic, 0 = off where allowed); 3.x models take a level and cannot turn thinking off. A
 * request without `thinking` leaves the model's default (Gemini 2.5/3 think by default) and asks
 * for no thought text, matching Anthropic where such a request gets no thinking blocks.
 */
export function toThinkingConfig(body: any, model: string, opts: GeminiOptions): ThinkingConfig | undefined {
  const t = body.thinking;
  const effort: string | undefined = typeof body.output_config?.effort === 'string' ? body.output_config.effort : undefined;
  if (t?.type === 'disabled') {
    // Only 2.5 Flash / Flash-Lite accept 0; Pro and 3.x answer 400, so they keep their default.
    const gen = modelGeneration(model);
    return opts.thinking === 'budget' && /flash/.test(model) && gen !== undefined && gen < 3 ? { thinkingBudget: 0 } : undefined;
  }
  const enabled = thinkingRequested(body);
  if (!enabled && !effort) return undefined;
  const cfg: ThinkingConfig = {};
  if (opts.thinking === 'level') {
    const level = effort ? EFFORT_LEVEL[effort] : t?.type === 'enabled' ? levelForBudget(t.budget_tokens) : undefined;
    if (level) cfg.thinkingLevel = level;
  } else {
    const budget = t?.type === 'enabled' ? clampBudget(t.budget_tokens, model) : effort ? EFFORT_BUDGET[effort] : -1;
    if (budget !== undefined) cfg.thinkingBudget = budget;
  }
  const include = opts.includeThoughts ?? (enabled && t.display !== 'omitted');
  if (include) cfg.includeThoughts = true;
  return Object.keys(cfg).length ? cfg : undefined;
}

function levelForBudget(budget: number): ThinkingConfig['thinkingLevel'] {
  return budget < 4096 ? 'LOW' : budget < 16384 ? 'MEDIUM' : 'HIGH';
}

/** 2.5 Pro takes up to 32768, Flash and Flash-Lite up to 24576. */
function clampBudget(budget: number, model: string): number {
  return Math.min(budget, /pro/.test(model) ? 32768 : 24576);
}

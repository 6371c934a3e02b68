import { readFileSync } from 'node:fs';
import yaml from 'js-yaml';
import { UsageError } from './args';
import type { Usage } from './stream-client';

/** USD per million tokens, as the provider's price list gives them. */
export interface Price {
  inputPerMTok: number;
  outputPerMTok: number;
  cacheRead?: number;
  cacheWrite?: number;
}
export type Pricing = Record<string, Price>;

/**
 * The gateway knows its prices but does not send them to clients, so the client-side cost comes
 * from a file the user supplies; without one cost is unknown rather than guessed.
 */
export function loadPricing(file: string): Pricing {
  let doc: unknown;
  try {
    doc = yaml.load(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new UsageError(`--pricing: ${(err as Error).message}`);
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new UsageError(`--pricing: ${file}: expected a map of model -> prices`);
  const out: Pricing = {};
  for (const [model, p] of Object.entries(doc as Record<string, any>)) {
    const num = (k: string, required: boolean) => {
      const v = p?.[k];
      if (v === undefined && !required) return undefined;
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new UsageError(`--pricing: ${model}.${k}: must be a non-negative number`);
      return v;
    };
    out[model] = {
      inputPerMTok: num('inputPerMTok', true)!,
      outputPerMTok: num('outputPerMTok', true)!,
      cacheRead: num('cacheRead', false),
      cacheWrite: num('cacheWrite', false),
    };
  }
  return out;
}

/** Cost of one answer in USD, or null when the model has no price. */
export function costOf(pricing: Pricing | undefined, model: string, u: Usage): number | null {
  const p = pricing?.[model];
  if (!p) return null;
  return (
    (u.input_tokens * p.inputPerMTok +
      u.output_tokens * p.outputPerMTok +
      u.cache_read_input_tokens * (p.cacheRead ?? p.inputPerMTok) +
      u.cache_creation_input_tokens * (p.cacheWrite ?? p.inputPerMTok)) /
    1e6
  );
}

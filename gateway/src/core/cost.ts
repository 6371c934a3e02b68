import type { CallContext, Usage } from './call';
import type { Pricing } from '../config/snapshot';

/**
 * What a request cost, from the configured prices (USD per million tokens). Pure functions so the
 * metrics, the access log and budgets (issue 8) all charge the same amount for the same usage.
 *
 * Anthropic's `input_tokens` excludes cached tokens, so the four token kinds never overlap and each
 * is priced on its own. A price that is not configured counts as 0: the gateway charges only what
 * the operator priced, never a guess.
 */
export interface Cost {
  input: number;
  output: number;
  cacheRead: number;
  cacheWrite: number;
  total: number;
}

export const zeroCost = (): Cost => ({ input: 0, output: 0, cacheRead: 0, cacheWrite: 0, total: 0 });

const PER = 1_000_000;

/**
 * A target's pricing replaces its route's as a whole (as the compiler reads it when it reports a
 * route as priced): a target that sets only some prices charges 0 for the others.
 */
export function effectivePricing(route: { pricing?: Pricing } | undefined, target: { pricing?: Pricing } | undefined): Pricing | undefined {
  return target?.pricing ?? route?.pricing;
}

export function priceUsage(pricing: Pricing | undefined, usage: Usage): Cost {
  if (!pricing) return zeroCost();
  const input = (usage.input_tokens * (pricing.inputPerMTok ?? 0)) / PER;
  const output = (usage.output_tokens * (pricing.outputPerMTok ?? 0)) / PER;
  const cacheRead = (usage.cache_read_input_tokens * (pricing.cacheReadPerMTok ?? 0)) / PER;
  // 1-hour writes are part of cache_creation_input_tokens; priced apart when a price is set for them.
  const hour = Math.min(usage.cache_creation_1h_input_tokens ?? 0, usage.cache_creation_input_tokens);
  const fiveMinute = usage.cache_creation_input_tokens - hour;
  const cacheWrite = (fiveMinute * (pricing.cacheWritePerMTok ?? 0) + hour * (pricing.cacheWrite1hPerMTok ?? pricing.cacheWritePerMTok ?? 0)) / PER;
  return { input, output, cacheRead, cacheWrite, total: input + output + cacheRead + cacheWrite };
}

/**
 * The cost of a request so far; once it has ended, computed once and kept on the call. Only Messages calls consume
 * tokens (count_tokens reports a count, not usage). The target that answered sets the price; when
 * every attempt failed there is no usage to price.
 */
export function callCost(call: CallContext): Cost {
  const memo = call.cost;
  if (memo) return memo;
  const cost = call.endpoint === 'messages' ? priceUsage(effectivePricing(call.route, call.target), call.usage) : zeroCost();
  if (call.endedAt !== undefined) call.cost = cost; // usage can still grow while a stream runs
  return cost;
}

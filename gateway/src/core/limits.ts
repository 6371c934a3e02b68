import type { CallContext, Usage } from './call';
import type { Limits } from '../config/snapshot';

/** A request the limiter let through. */
export interface Admission {
  /** Headers for the client's response (anthropic-ratelimit-*). */
  headers: Record<string, string>;
  /** Usage reported as it arrives (stream message_start / message_delta, cumulative). */
  usage?(call: CallContext, usage: Usage): void;
  /** Called exactly once when the request is over, success or not, with the final usage on `call`. */
  release(call: CallContext): void;
}

/**
 * Decides whether a request may go upstream. Refusals throw a GatewayError (429 with
 * retry-after, or 403 for budgets) naming the limit.
 */
export interface Limiter {
  admit(call: CallContext): Promise<Admission>;
}

export const unlimited: Limiter = {
  async admit() {
    return { headers: {}, release() {} };
  },
};

/** What the metrics feature reads from `call.rateLimited` when a request is refused. */
export interface RateLimited {
  scope: 'key' | 'route';
  limit: keyof Limits;
}

/** What the access log reads from `call.budgetExceeded` when a budget refused a request. */
export interface BudgetExceeded {
  period: string;
  budget_usd: number;
  /** What the store enforced: with the local store, this pod's spend (against its share). */
  spent_usd: number;
}

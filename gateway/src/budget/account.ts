import type { CallContext } from '../core/call';
import { callCost } from '../core/cost';
import { GatewayError } from '../core/errors';
import type { BudgetExceeded } from '../core/limits';
import type { ApiKey } from '../core/routes';
import type { SpendAccount } from '../limits/spend';
import type { Check, CheckState, DebitSink } from '../limits/store';
import { MICROS, exhaustedMessage, ledgerOf, retainMs, type Ledger } from './ledger';

/**
 * Every Messages request of every key debits its price (callCost, the figure the cost metric
 * counts) and its request and token counts to the key's ledger (ledger.ts): as usage arrives in
 * streams, and finally when the response closes. A key with a budget is also checked: its spend
 * bucket must still fit before the request goes upstream.
 */
export function openAccount(key: ApiKey, now: () => number): SpendAccount {
  const t = now();
  let ledger = ledgers.get(key);
  if (!ledger || t < ledger.period.start || t >= ledger.period.end) ledgers.set(key, (ledger = ledgerOf(key, t)));
  return new Account(ledger, now);
}

// A key's ledger for its current period, made once per period rather than per request (its ids are
// four template strings). Keys are immutable once compiled into a table: a new snapshot brings new ones.
const ledgers = new WeakMap<ApiKey, Ledger>();

class Account implements SpendAccount {
  readonly check?: Check;
  /** What the key's ledger has been debited so far (micro-dollars, tokens). */
  private spent = 0;
  private tokensIn = 0;
  private tokensOut = 0;

  constructor(
    private readonly ledger: Ledger,
    private readonly now: () => number,
  ) {
    if (ledger.budget) this.check = budgetCheck(ledger, now());
  }

  /**
   * 403 permission_error, not 429: the SDKs retry 429s on their own, and no retry can succeed
   * before the period ends. The message names the budget, the spend and the reset time.
   */
  refusal(call: CallContext, s: CheckState, headers: Record<string, string>): GatewayError {
    const l = this.ledger;
    const exceeded: BudgetExceeded = { period: l.period.id, budget_usd: l.budget!.usd, spent_usd: Math.round(s.used) / MICROS };
    call.budgetExceeded = exceeded;
    return new GatewayError(403, 'permission_error', exhaustedMessage(l, s.used, s.capacity, s.divisor), headers);
  }

  /**
   * The ledger follows the usage the upstream reported, priced as the cost metric prices it: a
   * request that ends without usage (an error, or a client gone before the first usage event)
   * costs nothing. The request itself counts once, at the end.
   */
  debit(into: DebitSink, call: CallContext, final: boolean): void {
    const l = this.ledger;
    const u = call.usage;
    const spent = callCost(call).total * MICROS;
    const tokensIn = u.input_tokens + u.cache_read_input_tokens + u.cache_creation_input_tokens;
    const tokensOut = u.output_tokens;
    const ttlMs = retainMs(l, this.now());
    add(into, l.spend, spent - this.spent, ttlMs);
    add(into, l.input, tokensIn - this.tokensIn, ttlMs);
    add(into, l.output, tokensOut - this.tokensOut, ttlMs);
    if (final) add(into, l.requests, 1, ttlMs);
    this.spent = Math.max(this.spent, spent);
    this.tokensIn = Math.max(this.tokensIn, tokensIn);
    this.tokensOut = Math.max(this.tokensOut, tokensOut);
  }
}

function add(into: DebitSink, id: string, amount: number, ttlMs: number): void {
  if (amount > 0) into.add(id, 0, amount, ttlMs);
}

/** The spend bucket of a key's budget: fits while spend is below the budget (cost 0; the price is debited later). */
function budgetCheck(l: Ledger, now: number): Check {
  return { kind: 'rate', id: l.spend, capacity: l.budget!.usd * MICROS, perMs: 0, cost: 0, ttlMs: retainMs(l, now) };
}

import type { CallContext } from '../core/call';
import type { GatewayError } from '../core/errors';
import type { ApiKey } from '../core/routes';
import type { Check, CheckState, DebitSink } from './store';

/**
 * A key's spend account for one Messages request, as the limiter drives it. Budgets live in
 * budget/ (budget/account.ts implements this); the limiter only admits the account's check in
 * the same store call as the rate limits, and settles its debits with theirs.
 */
export interface SpendAccount {
  /** The budget's check, admitted with the rate limits; undefined when the key has no budget. */
  readonly check?: Check;
  /** The refusal when that check did not fit. */
  refusal(call: CallContext, state: CheckState, headers: Record<string, string>): GatewayError;
  /** Adds to `into` the debits for the usage reported since the last call; `final` once, when the request is over. */
  debit(into: DebitSink, call: CallContext, final: boolean): void;
}

/** Opens a key's account for one request. */
export type SpendAccounts = (key: ApiKey, now: () => number) => SpendAccount;

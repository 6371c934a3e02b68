import type { CallContext, Usage } from '../core/call';
import { GatewayError } from '../core/errors';
import { MICROS, exhaustedMessage, ledgerOf, retainMs, type Ledger } from '../budget/ledger';
import type { Limits } from '../config/snapshot';
import type { ApiKey, Route } from '../core/routes';
import { callCost } from '../core/cost';
import { perMinute, waitMs } from './bucket';
import { estimateInputTokens } from './estimate';
import { rateLimitHeaders, type Category, type Reading } from './headers';
import { StoreUnavailable, type AdmitResult, type Check, type CheckState, type Debit, type LimitStore } from './store';
import type { Admission, BudgetExceeded, Limiter, RateLimited } from '../core/limits';

type Metric = 'rpm' | 'itpm' | 'otpm' | 'conc';
const FIELDS: ReadonlyArray<[Metric, keyof Limits]> = [
  ['rpm', 'requestsPerMinute'],
  ['itpm', 'inputTokensPerMinute'],
  ['otpm', 'outputTokensPerMinute'],
  ['conc', 'maxConcurrent'],
];
const CATEGORY: Partial<Record<Metric, Category>> = { rpm: 'requests', itpm: 'input-tokens', otpm: 'output-tokens' };

/** One configured limit that applies to a request. */
interface Entry {
  scope: 'key' | 'route';
  kind: 'ApiKey' | 'ModelRoute';
  /** `namespace/name` of the ApiKey or ModelRoute: what ids, messages and metrics use. */
  subject: string;
  metric: Metric;
  field: keyof Limits;
  limit: number;
  /** Store id: `key:team-a/alpha:rpm`. */
  id: string;
}

interface Plan {
  /** Every limit of the key and the route, for /v1/messages. */
  all: Entry[];
  /** Without token limits, for count_tokens (which consumes no tokens). */
  untokened: Entry[];
}

const NONE: Admission = { headers: {}, release() {} };

/**
 * The Limiter on top of a LimitStore: works out which of the key's and the route's limits apply,
 * admits all of them in one store call, renders Anthropic's headers, and settles real usage.
 *
 * Spend budgets ride along: a Messages request of a key with `budget` also checks the key's
 * spend bucket for the current period (cost 0: admitted while spend < budget, else 403), in the
 * same store call. Every Messages request of every key then debits its price (callCost, the
 * figure the cost metric counts) and its request and token counts to the key's ledger
 * (budget/ledger.ts): as usage arrives in streams, and finally when the response closes.
 *
 * Costs: a request costs 1 on requestsPerMinute and its input-token estimate on
 * inputTokensPerMinute at admission; output tokens are unknown up front, so outputTokensPerMinute
 * admits while not used up and is debited as usage arrives. Token debits are corrected to the
 * upstream's real counts (input = input_tokens + cache_creation_input_tokens; cache reads do not
 * count, as at Anthropic). count_tokens requests count against requests and concurrency only.
 *
 * Limits are read from the key and route of the table a request started with, so a new snapshot
 * changes them at once; bucket ids depend only on names, so counters carry across snapshots.
 */
export class StoreLimiter implements Limiter {
  private readonly plans = new WeakMap<ApiKey, WeakMap<Route, Plan>>();

  constructor(
    private readonly store: LimitStore,
    private readonly now: () => number = Date.now,
  ) {}

  async admit(call: CallContext): Promise<Admission> {
    if (!call.key || !call.route) return NONE;
    const plan = this.plan(call.key, call.route);
    const tokens = call.endpoint === 'messages';
    const entries = tokens ? plan.all : plan.untokened;
    const gateways = call.table?.snapshot.gateways ?? 1;
    // Only Messages calls cost money; count_tokens neither counts nor is refused by a budget.
    const ledger = tokens ? ledgerOf(call.key, this.now()) : undefined;
    const budget = ledger?.budget ? budgetCheck(ledger, this.now()) : undefined;
    if (!entries.length && !budget) {
      // Nothing to check: only the usage counters, debited after the fact.
      return ledger ? new Held(this.store, [], {}, gateways, 0, true, call.requestId, ledger, this.now) : NONE;
    }
    const estimate = tokens && entries.some((e) => e.metric === 'itpm') ? estimateInputTokens(call.body) : 0;
    const checks = entries.map((e) => toCheck(e, estimate));
    if (budget) checks.push(budget);

    let res: AdmitResult;
    try {
      res = await this.store.admit({ checks, holder: call.requestId, gateways });
    } catch (err) {
      if (err instanceof StoreUnavailable) throw new GatewayError(503, 'overloaded_error', `${err.message}; retry shortly`, { 'retry-after': '1' });
      throw err;
    }
    const readings: Reading[] = [];
    entries.forEach((e, i) => {
      const category = CATEGORY[e.metric];
      if (category) readings.push({ category, state: res.states[i] });
    });
    const headers = rateLimitHeaders(readings, this.now());
    if (!res.admitted) {
      // A spent budget wins over a rate limit: waiting would not help.
      const b = budget && res.states[entries.length];
      if (b && !b.ok) throw budgetRefusal(call, ledger!, b, headers);
      throw refusal(call, entries, checks, res.states, estimate, headers);
    }

    const held = new Held(res.store, entries, headers, gateways, estimate, tokens, call.requestId, ledger, this.now);
    if (call.endedAt !== undefined) {
      // The client left while the store answered: the response's close hook has already run, so
      // nobody else will release what was just taken. Give it back and go no further.
      held.release(call);
      throw new GatewayError(400, 'invalid_request_error', 'the client closed the connection before the request was admitted');
    }
    return held;
  }

  private plan(key: ApiKey, route: Route): Plan {
    let byRoute = this.plans.get(key);
    if (!byRoute) this.plans.set(key, (byRoute = new WeakMap()));
    let plan = byRoute.get(route);
    if (!plan) {
      const all = [...entriesOf('key', 'ApiKey', key.name, key.limits), ...entriesOf('route', 'ModelRoute', route.name, route.limits)];
      plan = { all, untokened: all.filter((e) => e.metric === 'rpm' || e.metric === 'conc') };
      byRoute.set(route, plan);
    }
    return plan;
  }
}

function entriesOf(scope: Entry['scope'], kind: Entry['kind'], subject: string, limits: Limits | undefined): Entry[] {
  const out: Entry[] = [];
  if (!limits) return out;
  for (const [metric, field] of FIELDS) {
    const limit = limits[field];
    if (typeof limit === 'number' && limit >= 0) out.push({ scope, kind, subject, metric, field, limit, id: `${scope}:${subject}:${metric}` });
  }
  return out;
}

function toCheck(e: Entry, estimate: number): Check {
  switch (e.metric) {
    case 'conc':
      return { kind: 'slots', id: e.id, max: e.limit };
    case 'rpm':
      return { kind: 'rate', id: e.id, capacity: e.limit, perMs: perMinute(e.limit), cost: 1 };
    case 'itpm':
      return { kind: 'rate', id: e.id, capacity: e.limit, perMs: perMinute(e.limit), cost: estimate };
    case 'otpm':
      return { kind: 'rate', id: e.id, capacity: e.limit, perMs: perMinute(e.limit), cost: 0 };
  }
}

/** The spend bucket of a key's budget: fits while spend is below the budget (cost 0; the price is debited later). */
function budgetCheck(l: Ledger, now: number): Check {
  return { kind: 'rate', id: l.spend, capacity: l.budget!.usd * MICROS, perMs: 0, cost: 0, ttlMs: retainMs(l, now) };
}

/**
 * 403 permission_error, not 429: the SDKs retry 429s on their own, and no retry can succeed
 * before the period ends. The message names the budget, the spend and the reset time.
 */
function budgetRefusal(call: CallContext, l: Ledger, s: CheckState, headers: Record<string, string>): GatewayError {
  const exceeded: BudgetExceeded = { period: l.period.id, budget_usd: l.budget!.usd, spent_usd: Math.round(s.used) / MICROS };
  call.budgetExceeded = exceeded;
  return new GatewayError(403, 'permission_error', exhaustedMessage(l, s.used, s.capacity, s.divisor), headers);
}

/** The 429 for the failing limit that takes longest to clear, with retry-after to match. */
function refusal(call: CallContext, entries: Entry[], checks: Check[], states: CheckState[], estimate: number, headers: Record<string, string>): GatewayError {
  let worst = -1;
  let worstWait = -1;
  states.forEach((s, i) => {
    if (s.ok) return;
    const c = checks[i];
    // A concurrency slot frees when some request ends: unknown, so suggest a second.
    const w = c.kind === 'slots' ? (s.capacity > 0 ? 1000 : Infinity) : waitMs(s.used, c.cost, s.capacity, s.perMs);
    if (w > worstWait) {
      worst = i;
      worstWait = w;
    }
  });
  const e = entries[worst];
  const s = states[worst];
  const rateLimited: RateLimited = { scope: e.scope, limit: e.field };
  call.rateLimited = rateLimited;
  const unit = e.metric === 'conc' ? ' in flight' : '/min';
  let what = `${e.limit}${unit}`;
  if (s.divisor > 1) what += `, ${round(s.capacity)}${unit} on each of ${s.divisor} gateways`;
  if (e.metric === 'itpm' && estimate > 0) what += `; this request is estimated at ${estimate} input tokens`;
  let message = `rate limit exceeded: ${e.kind} ${e.subject} ${e.field} (${what})`;
  let retryAfter: number;
  if (Number.isFinite(worstWait)) {
    retryAfter = Math.max(1, Math.ceil(worstWait / 1000));
    message += `; retry after ${retryAfter}s`;
  } else {
    retryAfter = 60;
    message += '; this limit admits no requests';
  }
  return new GatewayError(429, 'rate_limit_error', message, { ...headers, 'retry-after': String(retryAfter) });
}

const round = (n: number) => String(Math.round(n * 100) / 100);

/** Input tokens as rate limits count them: cache reads are not counted, cache writes are. */
const inputOf = (u: Usage) => u.input_tokens + u.cache_creation_input_tokens;

/** An admitted request: keeps what was debited so far and corrects it to the real usage. */
class Held implements Admission {
  private inDebited: number;
  private outDebited = 0;
  private sawUsage = false;
  private done = false;
  /** What the key's ledger has been debited so far (micro-dollars, tokens). */
  private spent = 0;
  private tokensIn = 0;
  private tokensOut = 0;

  constructor(
    private readonly store: LimitStore,
    private readonly entries: Entry[],
    readonly headers: Record<string, string>,
    private readonly gateways: number,
    estimate: number,
    private readonly tokens: boolean,
    private readonly holder: string,
    private readonly ledger?: Ledger,
    private readonly now: () => number = Date.now,
  ) {
    this.inDebited = estimate;
  }

  usage(call: CallContext, u: Usage): void {
    if (!this.tokens || this.done) return;
    this.sawUsage = true;
    this.sync(inputOf(u), u.output_tokens, [], call, false);
  }

  release(call: CallContext): void {
    if (this.done) return;
    this.done = true;
    let input = this.inDebited;
    let output = this.outDebited;
    if (this.tokens) {
      const u = call.usage;
      if (this.sawUsage || u.input_tokens > 0 || u.output_tokens > 0) {
        input = inputOf(u);
        output = u.output_tokens;
      } else if (call.attempts.length === 0 || (call.status >= 400 && !call.clientAborted)) {
        // Never sent upstream, or the upstream answered with an error: nothing was processed.
        input = 0;
      }
      // Otherwise (the client left, or the stream broke, before any usage came back) the upstream
      // may well have read the prompt: the estimate stays debited.
    }
    this.sync(input, output, this.entries.filter((e) => e.metric === 'conc').map((e) => e.id), call, true);
  }

  private sync(input: number, output: number, release: string[], call: CallContext, final: boolean): void {
    const dIn = input - this.inDebited;
    const dOut = output - this.outDebited;
    this.inDebited = input;
    this.outDebited = output;
    const debits: Debit[] = [];
    for (const e of this.entries) {
      const amount = e.metric === 'itpm' ? dIn : e.metric === 'otpm' ? dOut : 0;
      if (amount !== 0) debits.push({ id: e.id, perMs: perMinute(e.limit), amount });
    }
    if (this.ledger) this.ledgerDebits(call, final, debits);
    if (debits.length || release.length) this.store.settle({ holder: this.holder, gateways: this.gateways, debits, release });
  }

  /**
   * The ledger follows the usage the upstream reported, priced as the cost metric prices it: a
   * request that ends without usage (an error, or a client gone before the first usage event)
   * costs nothing. The request itself counts once, at the end.
   */
  private ledgerDebits(call: CallContext, final: boolean, debits: Debit[]): void {
    const l = this.ledger!;
    const u = call.usage;
    const spent = callCost(call).total * MICROS;
    const tokensIn = u.input_tokens + u.cache_read_input_tokens + u.cache_creation_input_tokens;
    const tokensOut = u.output_tokens;
    const ttlMs = retainMs(l, this.now());
    const add = (id: string, amount: number) => {
      if (amount > 0) debits.push({ id, perMs: 0, amount, ttlMs });
    };
    add(l.spend, spent - this.spent);
    add(l.input, tokensIn - this.tokensIn);
    add(l.output, tokensOut - this.tokensOut);
    if (final) add(l.requests, 1);
    this.spent = Math.max(this.spent, spent);
    this.tokensIn = Math.max(this.tokensIn, tokensIn);
    this.tokensOut = Math.max(this.tokensOut, tokensOut);
  }
}

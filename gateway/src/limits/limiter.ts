import type { CallContext, Usage } from '../core/call';
import { GatewayError } from '../core/errors';
import type { Limits } from '../config/snapshot';
import type { ApiKey, Route } from '../core/routes';
import { perMinute, waitMs } from './bucket';
import { estimateInputTokens } from './estimate';
import { rateLimitHeaders, type Category, type Reading } from './headers';
import { StoreUnavailable, type AdmitResult, type Check, type CheckState, type Debit, type DebitSink, type LimitStore } from './store';
import type { Admission, Limiter, RateLimited } from '../core/limits';
import type { SpendAccount, SpendAccounts } from './spend';

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
  /** Store ids of the concurrency slots a request holds until it ends (in both lists alike). */
  slots: string[];
  /** Whether a Messages request needs an input-token estimate. */
  estimates: boolean;
}

// What a request with no limit to check holds: shared, never written.
const NO_ENTRIES: Entry[] = [];
const NO_HEADERS: Record<string, string> = {};
const NO_SLOTS: string[] = [];

const NONE: Admission = { headers: {}, release() {} };
const NONE_ADMITTED = Promise.resolve(NONE);

/**
 * The Limiter on top of a LimitStore: works out which of the key's and the route's limits apply,
 * admits all of them in one store call, renders Anthropic's headers, and settles real usage.
 *
 * Spend budgets ride along: each Messages request opens the key's spend account (budget/account.ts,
 * through the SpendAccounts it is given). A key with `budget` adds its spend check to the same
 * store call (admitted while spend < budget, else the account's 403); the account's ledger debits
 * settle with the token debits, as usage arrives and when the response closes.
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
    /** Budgets and usage ledgers (budget/account.ts); without them, rate limits only. */
    private readonly accounts?: SpendAccounts,
  ) {}

  /**
   * Not async itself: an async function's state (a generator object with a register file sized
   * for all of `check`'s locals) was ~0.5 KB per request even when nothing was to be checked.
   */
  admit(call: CallContext): Promise<Admission> {
    if (!call.key || !call.route) return NONE_ADMITTED;
    try {
      const plan = this.plan(call.key, call.route);
      const tokens = call.endpoint === 'messages';
      const entries = tokens ? plan.all : plan.untokened;
      const gateways = call.table?.snapshot.gateways ?? 1;
      // Only Messages calls cost money; count_tokens neither counts nor is refused by a budget.
      const account = tokens && this.accounts ? this.accounts(call.key, this.now) : undefined;
      if (!entries.length && !account?.check) {
        // Nothing to check: only the usage counters, debited after the fact.
        return account ? Promise.resolve(new Held(this.store, NO_ENTRIES, NO_SLOTS, NO_HEADERS, gateways, 0, true, call.requestId, account)) : NONE_ADMITTED;
      }
      return this.check(call, plan, entries, tokens, gateways, account);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private async check(
    call: CallContext,
    plan: Plan,
    entries: Entry[],
    tokens: boolean,
    gateways: number,
    account: SpendAccount | undefined,
  ): Promise<Admission> {
    const budget = account?.check;
    const estimate = tokens && plan.estimates ? estimateInputTokens(call.body) : 0;
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
      if (b && !b.ok) throw account!.refusal(call, b, headers);
      throw refusal(call, entries, checks, res.states, estimate, headers);
    }

    const held = new Held(res.store, entries, plan.slots, headers, gateways, estimate, tokens, call.requestId, account);
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
      plan = {
        all,
        untokened: all.filter((e) => e.metric === 'rpm' || e.metric === 'conc'),
        slots: all.filter((e) => e.metric === 'conc').map((e) => e.id),
        estimates: all.some((e) => e.metric === 'itpm'),
      };
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

  constructor(
    private readonly store: LimitStore,
    private readonly entries: Entry[],
    private readonly slots: string[],
    readonly headers: Record<string, string>,
    private readonly gateways: number,
    estimate: number,
    private readonly tokens: boolean,
    private readonly holder: string,
    private readonly account?: SpendAccount,
  ) {
    this.inDebited = estimate;
  }

  usage(call: CallContext, u: Usage): void {
    if (!this.tokens || this.done) return;
    this.sawUsage = true;
    this.sync(inputOf(u), u.output_tokens, NO_SLOTS, call, false);
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
    this.sync(input, output, this.slots, call, true);
  }

  private sync(input: number, output: number, release: string[], call: CallContext, final: boolean): void {
    const dIn = input - this.inDebited;
    const dOut = output - this.outDebited;
    this.inDebited = input;
    this.outDebited = output;
    const store = this.store;
    // A store that applies each debit as it comes (the local one) is handed them so: no Settlement,
    // list or Debit objects per request. Other stores queue settlements, so theirs are built.
    const settler = store.settler?.(this.gateways);
    const sink: DebitSink = settler ?? new Gathered();
    for (const e of this.entries) {
      const amount = e.metric === 'itpm' ? dIn : e.metric === 'otpm' ? dOut : 0;
      if (amount !== 0) sink.add(e.id, perMinute(e.limit), amount);
    }
    if (this.account) this.account.debit(sink, call, final);
    if (settler) {
      if (release.length) settler.release(release);
    } else {
      const debits = (sink as Gathered).debits;
      if (debits.length || release.length) store.settle({ holder: this.holder, gateways: this.gateways, debits, release });
    }
  }
}

/** The debits of one settlement, for a store that keeps the Settlement. */
class Gathered implements DebitSink {
  readonly debits: Debit[] = [];
  add(id: string, perMs: number, amount: number, ttlMs?: number): void {
    this.debits.push(ttlMs === undefined ? { id, perMs, amount } : { id, perMs, amount, ttlMs });
  }
}

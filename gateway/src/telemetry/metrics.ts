import { Gauge, type Registry } from 'prom-client';
import type { AttemptRecord, CallContext } from '../core/call';
import type { Observer } from '../core/observers';
import { callCost } from '../core/cost';
import { FastCounter, FastHistogram, observeIn, seriesResets, type HistogramSeries } from './series';
import { branch, type LabelTree } from './label-tree';
import { apiKeyLabel, attemptOutcome, isChat, isProbe, modelLabel, providerLabel, routeLabel } from './labels';

/**
 * Buckets for LLM traffic: requests run from tens of milliseconds (errors, count_tokens) to
 * minutes (long generations), so the request histogram reaches 10 minutes; the first token
 * arrives between ~10 ms (cached, small) and a minute (long prompts, extended thinking).
 */
export const DURATION_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 180, 300, 450, 600];
export const TTFT_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 7.5, 10, 15, 20, 30, 45, 60];

/** What is left of one ApiKey's budget in its current period (budgets feature, budget/install.ts). */
export interface BudgetLeft {
  apiKey: string;
  remainingUSD: number;
  /** The budget this gateway enforces: the whole with the Redis store, its share with the local store. */
  budgetUSD: number;
}

/**
 * The series a request updates, per (route, provider, model, api_key): resolved once instead of
 * joining label values into a lookup key for each of half a dozen series on every request.
 */
interface Children {
  route: string;
  provider: string;
  model: string;
  apiKey: string;
  /** By the HTTP status the client got. */
  requests: Map<number, { value: number }>;
  duration: HistogramSeries;
  input: { value: number };
  output: { value: number };
  cacheRead: { value: number };
  cacheCreation: { value: number };
  cost: { value: number };
}

/**
 * The `switchyard_*` series of DESIGN.md on the gateway's own registry. Counters move when a
 * request ends (a stream when its last byte went out, with its real usage); the TTFT histogram
 * when the first token goes out.
 */
export class SwitchyardMetrics implements Observer {
  readonly requests: FastCounter;
  readonly duration: FastHistogram;
  readonly ttft: FastHistogram;
  readonly tokens: FastCounter;
  readonly attempts: FastCounter;
  readonly fallbacks: FastCounter;
  readonly clientStalls: FastCounter;
  readonly streamErrors: FastCounter;
  readonly rateLimited: FastCounter;
  readonly cost: FastCounter;
  readonly inflight: Gauge;
  readonly budgetRemaining: Gauge<'api_key'>;
  readonly budget: Gauge<'api_key'>;
  private budgets?: () => Promise<BudgetLeft[]>;
  private budgetRead?: Promise<BudgetLeft[]>;
  /** route → provider → model → api_key label → Children. */
  private readonly childrenCache: LabelTree = new Map();
  /** provider → outcome → series of switchyard_upstream_attempts_total. */
  private readonly attemptSeries: LabelTree = new Map();
  private childrenEpoch = seriesResets();

  constructor(registry: Registry, inflight: () => number) {
    this.requests = new FastCounter(
      'switchyard_requests_total',
      'Requests on the traffic port (base-URL probes excepted), by the HTTP status the client got (499: the client left before the response started).',
      ['route', 'provider', 'model', 'api_key', 'code'],
      registry,
    );
    this.duration = new FastHistogram(
      'switchyard_request_duration_seconds',
      'Time from the request arriving to its last byte going out (or the client leaving).',
      ['route', 'provider', 'model'],
      DURATION_BUCKETS,
      registry,
    );
    this.ttft = new FastHistogram(
      'switchyard_time_to_first_token_seconds',
      'Streamed responses: time from the request arriving to the first content delta going out.',
      ['route', 'provider', 'model'],
      TTFT_BUCKETS,
      registry,
    );
    this.tokens = new FastCounter(
      'switchyard_tokens_total',
      'Tokens consumed by Messages requests, as the upstream reported them.',
      ['type', 'route', 'api_key'],
      registry,
    );
    this.attempts = new FastCounter(
      'switchyard_upstream_attempts_total',
      'Upstream attempts (retries and fallbacks included) by outcome: ok, 4xx, 429, 5xx, or a transport failure (connect, timeout, idle_timeout, network, aborted, too_large).',
      ['provider', 'outcome'],
      registry,
    );
    this.clientStalls = new FastCounter(
      'switchyard_client_stalls_total',
      'Responses the gateway cut off because the client stopped reading for --stream-stall-seconds (its upstream aborted, its socket closed).',
      ['route', 'api_key'],
      registry,
    );
    this.streamErrors = new FastCounter(
      'switchyard_stream_errors_total',
      'Streamed responses that started (200, counted so in requests_total) and ended with an `error` event instead of message_stop: the upstream broke off or sent an error mid-stream, or the drain ran out; by the error type the client got.',
      ['route', 'provider', 'model', 'api_key', 'type'],
      registry,
    );
    this.fallbacks = new FastCounter('switchyard_fallbacks_total', 'Times a request moved on to a lower-priority group of targets.', ['route'], registry);
    this.rateLimited = new FastCounter(
      'switchyard_rate_limited_total',
      'Requests the gateway refused with 429 because of its own limits, by the limit scope (key or route).',
      ['scope', 'api_key'],
      registry,
    );
    this.cost = new FastCounter(
      'switchyard_cost_usd_total',
      "Cost of Messages requests in USD from the route's (or target's) pricing; input, output, cache-read and cache-write tokens priced apart.",
      ['route', 'api_key'],
      registry,
    );
    this.inflight = new Gauge({
      name: 'switchyard_inflight_requests',
      help: 'Requests on the traffic port that have not finished (open streams included).',
      registers: [registry],
      collect() {
        this.set(inflight());
      },
    });
    // Both budget gauges are read from the limit store at scrape time (one round trip with
    // Redis, shared by the two when a scrape collects them together), so a new period shows at
    // once. If the store cannot answer, the last values stay.
    const budgets = () => {
      const source = this.budgets;
      if (!source) return undefined;
      this.budgetRead ??= source().finally(() => (this.budgetRead = undefined));
      return this.budgetRead;
    };
    const fill = async (gauge: Gauge<'api_key'>, pick: (b: BudgetLeft) => number) => {
      const pending = budgets();
      if (!pending) return;
      let list: BudgetLeft[];
      try {
        list = await pending;
      } catch {
        return;
      }
      gauge.reset();
      for (const b of list) gauge.set({ api_key: b.apiKey }, pick(b));
    };
    this.budgetRemaining = new Gauge({
      name: 'switchyard_budget_remaining_usd',
      help: "USD left in the current period of each ApiKey with a budget, as this gateway knows it: the fleet's with the Redis store, this pod's share (budget / gateways) with the local store.",
      labelNames: ['api_key'],
      registers: [registry],
      collect() {
        return fill(this, (b) => b.remainingUSD);
      },
    });
    this.budget = new Gauge({
      name: 'switchyard_budget_usd',
      help: "The period budget of each ApiKey with a budget, as this gateway enforces it: the whole with the Redis store, this pod's share (budget / gateways) with the local store.",
      labelNames: ['api_key'],
      registers: [registry],
      collect() {
        return fill(this, (b) => b.budgetUSD);
      },
    });
  }

  /** Where switchyard_budget_remaining_usd comes from (set by the budgets feature). */
  watchBudgets(source: () => Promise<BudgetLeft[]>): void {
    this.budgets = source;
  }

  firstToken(call: CallContext): void {
    const ttft = call.ttftMs;
    if (ttft === undefined) return;
    this.ttft.observe([routeLabel(call), providerLabel(call), modelLabel(call, call.requestedModel)], ttft / 1000);
  }

  /** Series taken before a registry reset are no longer the registry's: look them up again. */
  private dropStale(): void {
    if (this.childrenEpoch === seriesResets()) return;
    this.childrenCache.clear();
    this.attemptSeries.clear();
    this.childrenEpoch = seriesResets();
  }

  attemptEnd(_call: CallContext, a: AttemptRecord): void {
    this.dropStale();
    const provider = a.target.provider;
    const outcome = attemptOutcome(a);
    const byOutcome = branch(this.attemptSeries, provider);
    let series = byOutcome.get(outcome) as { value: number } | undefined;
    if (!series) byOutcome.set(outcome, (series = this.attempts.at([provider, outcome])));
    series.value++;
  }

  /** The series one (route, provider, model, api_key) combination updates, looked up once per combination. */
  private children(route: string, provider: string, model: string, apiKey: string): Children {
    this.dropStale();
    const leaf = branch(branch(branch(this.childrenCache, route), provider), model);
    let c = leaf.get(apiKey) as Children | undefined;
    if (!c) {
      c = {
        route,
        apiKey,
        requests: new Map(),
        duration: this.duration.at([route, provider, model]),
        input: this.tokens.at(['input', route, apiKey]),
        output: this.tokens.at(['output', route, apiKey]),
        cacheRead: this.tokens.at(['cache_read', route, apiKey]),
        cacheCreation: this.tokens.at(['cache_creation', route, apiKey]),
        cost: this.cost.at([route, apiKey]),
        provider,
        model,
      };
      leaf.set(apiKey, c);
    }
    return c;
  }

  requestEnd(call: CallContext): void {
    if (isProbe(call)) return;
    const c = this.children(routeLabel(call), providerLabel(call), modelLabel(call, call.requestedModel), apiKeyLabel(call));
    const { route, apiKey } = c;
    let requests = c.requests.get(call.status);
    if (!requests) c.requests.set(call.status, (requests = this.requests.at([route, c.provider, c.model, apiKey, String(call.status)])));
    requests.value++;
    observeIn(c.duration, this.duration.buckets, call.durationMs / 1000);
    if (call.fallbacks > 0) this.fallbacks.inc([route], call.fallbacks);
    if (call.clientStalled) this.clientStalls.inc([route, apiKey]);
    // A client cut off for not reading got no error event: client_stalls_total has it.
    else if (call.errorType !== undefined && call.status === 200) this.streamErrors.inc([route, c.provider, c.model, apiKey, call.errorType]);
    const limited = call.rateLimited;
    if (limited) this.rateLimited.inc([limited.scope === 'route' ? 'route' : 'key', apiKey]);
    if (!isChat(call)) return;
    const u = call.usage;
    if (u.input_tokens) c.input.value += u.input_tokens;
    if (u.output_tokens) c.output.value += u.output_tokens;
    if (u.cache_read_input_tokens) c.cacheRead.value += u.cache_read_input_tokens;
    if (u.cache_creation_input_tokens) c.cacheCreation.value += u.cache_creation_input_tokens;
    const cost = callCost(call).total;
    if (cost > 0) c.cost.value += cost;
  }
}

import type { Registry } from 'prom-client';
import type { CallContext } from '../core/call';
import type { Observer } from '../core/observers';
import { FastHistogram, observeIn, seriesResets, type HistogramSeries } from './series';
import { branch, type LabelTree } from './label-tree';
import { errorTypeOf, finalTarget, genAiProvider, isChat, modelLabel, routeLabel } from './labels';

/**
 * The OpenTelemetry GenAI metrics under the Prometheus names Envoy AI Gateway exposes them with
 * (its OTel Prometheus exporter appends `_seconds` to the two durations, nothing to the token
 * histogram), with the same `gen_ai_*` labels and token types, so dashboards built for it work
 * on Switchyard unchanged. Bucket boundaries are Envoy AI Gateway's too: quantiles computed from
 * a mixed fleet stay comparable.
 *
 * Labels: gen_ai_original_model is the model the client asked for, gen_ai_request_model the
 * model sent upstream, gen_ai_response_model the one the upstream said answered — each limited
 * to configured names (else `other`). `error_type` is present only on failed requests.
 */
// Envoy AI Gateway's labels plus `route`, so dashboards filter these series like the switchyard_*
// ones. It adds no series: the requested model (gen_ai_original_model) already decides the route.
// No api_key: it would multiply the bucket series by the number of keys.
const LABELS = ['gen_ai_operation_name', 'gen_ai_provider_name', 'gen_ai_original_model', 'gen_ai_request_model', 'gen_ai_response_model', 'route'] as const;

const TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864];
const DURATION_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92, 163.84, 327.68, 655.36];
const TTFT_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0];
const TPOT_BUCKETS = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5];

export class GenAiMetrics implements Observer {
  readonly tokenUsage: FastHistogram;
  readonly duration: FastHistogram;
  readonly ttft: FastHistogram;
  readonly tpot: FastHistogram;

  constructor(registry: Registry) {
    this.tokenUsage = new FastHistogram(
      'gen_ai_client_token_usage',
      'Number of tokens processed (OpenTelemetry gen_ai.client.token.usage), by gen_ai_token_type: input, output, cached_input, cache_creation_input.',
      [...LABELS, 'gen_ai_token_type'],
      TOKEN_BUCKETS,
      registry,
    );
    this.duration = new FastHistogram(
      'gen_ai_server_request_duration_seconds',
      'GenAI server request duration, to the last byte (OpenTelemetry gen_ai.server.request.duration).',
      [...LABELS, 'error_type'],
      DURATION_BUCKETS,
      registry,
    );
    this.ttft = new FastHistogram(
      'gen_ai_server_time_to_first_token_seconds',
      'Time to the first token of streamed responses (OpenTelemetry gen_ai.server.time_to_first_token).',
      LABELS,
      TTFT_BUCKETS,
      registry,
    );
    this.tpot = new FastHistogram(
      'gen_ai_server_time_per_output_token_seconds',
      'Time per output token after the first, for streamed responses (OpenTelemetry gen_ai.server.time_per_output_token).',
      LABELS,
      TPOT_BUCKETS,
      registry,
    );
  }

  /** route → provider → original → request → response model label → Children. */
  private readonly childrenCache: LabelTree = new Map();
  private childrenEpoch = seriesResets();

  firstToken(call: CallContext): void {
    if (!isChat(call) || call.ttftMs === undefined) return;
    const c = this.children(call);
    observeIn((c.ttft ??= this.ttft.at(c.values)), this.ttft.buckets, call.ttftMs / 1000);
  }

  requestEnd(call: CallContext): void {
    if (!isChat(call)) return;
    const c = this.children(call);
    const base = c.values;
    const error = errorTypeOf(call);
    const errorKey = error ?? '';
    let duration = c.duration.get(errorKey);
    if (!duration) c.duration.set(errorKey, (duration = this.duration.at([...base, error])));
    observeIn(duration, this.duration.buckets, call.durationMs / 1000);
    const u = call.usage;
    const tokens = this.tokenUsage.buckets;
    if (call.status < 300 || u.input_tokens > 0 || u.output_tokens > 0) {
      observeIn((c.input ??= this.tokenUsage.at([...base, 'input'])), tokens, u.input_tokens);
      observeIn((c.output ??= this.tokenUsage.at([...base, 'output'])), tokens, u.output_tokens);
      // Cache kinds only when used, as Envoy AI Gateway reports them only when the usage has them.
      if (u.cache_read_input_tokens) observeIn((c.cachedInput ??= this.tokenUsage.at([...base, 'cached_input'])), tokens, u.cache_read_input_tokens);
      if (u.cache_creation_input_tokens)
        observeIn((c.cacheCreation ??= this.tokenUsage.at([...base, 'cache_creation_input'])), tokens, u.cache_creation_input_tokens);
    }
    // (duration - ttft) / (output tokens - 1), for successful streams, as the semconv defines it.
    const ttft = call.ttftMs;
    if (call.stream && !error && ttft !== undefined && u.output_tokens > 1) {
      observeIn((c.tpot ??= this.tpot.at(base)), this.tpot.buckets, (call.durationMs - ttft) / 1000 / (u.output_tokens - 1));
    }
  }

  /**
   * The series of one label combination, looked up once per combination rather than by joining
   * the label values for each of three or four series on every request. Each series is taken
   * from its family the first time it is observed, so none appears before it has a value.
   */
  private children(call: CallContext): Children {
    if (this.childrenEpoch !== seriesResets()) {
      this.childrenCache.clear();
      this.childrenEpoch = seriesResets();
    }
    const target = finalTarget(call);
    const provider = genAiProvider(target?.provider);
    const original = modelLabel(call, call.requestedModel);
    const request = target ? modelLabel(call, target.model) : original;
    const response = modelLabel(call, call.responseModel);
    const route = routeLabel(call);
    const leaf = branch(branch(branch(branch(this.childrenCache, route), provider), original), request);
    let c = leaf.get(response) as Children | undefined;
    if (!c) {
      // Label values in LABELS order.
      c = { values: ['chat', provider, original, request, response, route], duration: new Map() };
      leaf.set(response, c);
    }
    return c;
  }
}

interface Children {
  values: readonly string[];
  /** By error type ('' when the request succeeded). */
  duration: Map<string, HistogramSeries>;
  input?: HistogramSeries;
  output?: HistogramSeries;
  cachedInput?: HistogramSeries;
  cacheCreation?: HistogramSeries;
  ttft?: HistogramSeries;
  tpot?: HistogramSeries;
}

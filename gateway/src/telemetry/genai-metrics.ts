import { Histogram, type Registry } from 'prom-client';
import type { CallContext } from '../api/call';
import type { Observer } from '../api/observers';
import { errorTypeOf, finalTarget, genAiProvider, isChat, modelLabel } from './labels';

/**
 * The OpenTelemetry GenAI metrics under the Prometheus names Envoy AI Gateway exposes them with
 * (its OTel Prometheus exporter appends `_seconds` to the two durations, nothing to the token
 * histogram), with the same `gen_ai_*` labels and token types, so dashboards built for it work
 * on Switchyard unchanged. Bucket boundaries are Envoy AI Gateway's too: quantiles computed from
 * a mixed fleet stay comparable.
 *
 * Labels: gen_ai_original_model is the model the client asked for, gen_ai_request_model the
 * model sent upstream, gen_ai_response_model the one the upstream said answered — each limited
 * to configured names (else `other`). `gen_ai_system` repeats the provider under its pre-1.37
 * semconv name for older dashboards. `error_type` is present only on failed requests.
 */
const LABELS = ['gen_ai_operation_name', 'gen_ai_provider_name', 'gen_ai_system', 'gen_ai_original_model', 'gen_ai_request_model', 'gen_ai_response_model'] as const;
type Label = (typeof LABELS)[number];

const TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864];
const DURATION_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92, 163.84, 327.68, 655.36];
const TTFT_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0];
const TPOT_BUCKETS = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5];

export class GenAiMetrics implements Observer {
  readonly tokenUsage: Histogram<Label | 'gen_ai_token_type'>;
  readonly duration: Histogram<Label | 'error_type'>;
  readonly ttft: Histogram<Label>;
  readonly tpot: Histogram<Label>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.tokenUsage = new Histogram({
      name: 'gen_ai_client_token_usage',
      help: 'Number of tokens processed (OpenTelemetry gen_ai.client.token.usage), by gen_ai_token_type: input, output, cached_input, cache_creation_input.',
      labelNames: [...LABELS, 'gen_ai_token_type'],
      buckets: TOKEN_BUCKETS,
      registers,
    });
    this.duration = new Histogram({
      name: 'gen_ai_server_request_duration_seconds',
      help: 'GenAI server request duration, to the last byte (OpenTelemetry gen_ai.server.request.duration).',
      labelNames: [...LABELS, 'error_type'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.ttft = new Histogram({
      name: 'gen_ai_server_time_to_first_token_seconds',
      help: 'Time to the first token of streamed responses (OpenTelemetry gen_ai.server.time_to_first_token).',
      labelNames: [...LABELS],
      buckets: TTFT_BUCKETS,
      registers,
    });
    this.tpot = new Histogram({
      name: 'gen_ai_server_time_per_output_token_seconds',
      help: 'Time per output token after the first, for streamed responses (OpenTelemetry gen_ai.server.time_per_output_token).',
      labelNames: [...LABELS],
      buckets: TPOT_BUCKETS,
      registers,
    });
  }

  firstToken(call: CallContext): void {
    if (!isChat(call) || call.ttftMs === undefined) return;
    this.ttft.observe(labels(call), call.ttftMs / 1000);
  }

  requestEnd(call: CallContext): void {
    if (!isChat(call)) return;
    const base = labels(call);
    const error = errorTypeOf(call);
    this.duration.observe(error ? { ...base, error_type: error } : base, call.durationMs / 1000);
    const u = call.usage;
    const reported = call.status < 300 || u.input_tokens > 0 || u.output_tokens > 0;
    if (reported) {
      this.tokenUsage.observe({ ...base, gen_ai_token_type: 'input' }, u.input_tokens);
      this.tokenUsage.observe({ ...base, gen_ai_token_type: 'output' }, u.output_tokens);
      this.tokenUsage.observe({ ...base, gen_ai_token_type: 'cached_input' }, u.cache_read_input_tokens);
      this.tokenUsage.observe({ ...base, gen_ai_token_type: 'cache_creation_input' }, u.cache_creation_input_tokens);
    }
    // (duration - ttft) / (output tokens - 1), for successful streams, as the semconv defines it.
    const ttft = call.ttftMs;
    if (call.stream && !error && ttft !== undefined && u.output_tokens > 1) {
      this.tpot.observe(base, (call.durationMs - ttft) / 1000 / (u.output_tokens - 1));
    }
  }
}

function labels(call: CallContext): Record<Label, string> {
  const target = finalTarget(call);
  const provider = genAiProvider(target?.provider);
  const original = modelLabel(call, call.requestedModel);
  return {
    gen_ai_operation_name: 'chat',
    gen_ai_provider_name: provider,
    gen_ai_system: provider,
    gen_ai_original_model: original,
    gen_ai_request_model: target ? modelLabel(call, target.model) : original,
    gen_ai_response_model: modelLabel(call, call.responseModel),
  };
}

import type { Registry } from 'prom-client';
import type { LineSink } from '../telemetry/access-log';
import { DURATION_BUCKETS, TTFT_BUCKETS } from '../telemetry/metrics';
import { FastCounter, FastHistogram } from '../telemetry/series';
import { genAiProvider } from '../telemetry/labels';
import type { LinkedSpan, Tracing } from '../telemetry/tracing';
import { durationMs, ttftMs, type ShadowRecorder, type ShadowRun } from './run';

/**
 * `switchyard_shadow_*`: the shadows' own series by route and shadow, apart from the primary's
 * (which they never touch), so a dashboard can set one against the other.
 */
export function shadowMetrics(registry: Registry): ShadowRecorder {
  const requests = new FastCounter(
    'switchyard_shadow_requests_total',
    'Shadow requests by outcome (ok | error | timeout | failure | aborted).',
    ['route', 'shadow', 'provider', 'model', 'outcome'],
    registry,
  );
  const skipped = new FastCounter(
    'switchyard_shadow_skipped_total',
    'Requests sampled for a shadow but not sent to it (reason: max_concurrent | draining).',
    ['route', 'shadow', 'reason'],
    registry,
  );
  const duration = new FastHistogram(
    'switchyard_shadow_request_duration_seconds',
    'Time from a shadow request being sent to its last byte being read.',
    ['route', 'shadow'],
    DURATION_BUCKETS,
    registry,
  );
  const ttft = new FastHistogram(
    'switchyard_shadow_time_to_first_token_seconds',
    'Time from a streamed shadow request being sent to its first content delta.',
    ['route', 'shadow'],
    TTFT_BUCKETS,
    registry,
  );
  const tokens = new FastCounter(
    'switchyard_shadow_tokens_total',
    'Tokens the shadows used (type: input | output | cache_read | cache_creation).',
    ['type', 'route', 'shadow'],
    registry,
  );
  const cost = new FastCounter('switchyard_shadow_cost_usd_total', "Shadows' spend at their targets' pricing, in USD.", ['route', 'shadow'], registry);
  return {
    end(run) {
      const { route, shadow } = run;
      requests.inc([route, shadow.name, shadow.target.provider, shadow.target.model, run.outcome]);
      duration.observe([route, shadow.name], durationMs(run) / 1000);
      const t = ttftMs(run);
      if (t !== undefined) ttft.observe([route, shadow.name], t / 1000);
      const u = run.usage;
      if (u.input_tokens) tokens.inc(['input', route, shadow.name], u.input_tokens);
      if (u.output_tokens) tokens.inc(['output', route, shadow.name], u.output_tokens);
      if (u.cache_read_input_tokens) tokens.inc(['cache_read', route, shadow.name], u.cache_read_input_tokens);
      if (u.cache_creation_input_tokens) tokens.inc(['cache_creation', route, shadow.name], u.cache_creation_input_tokens);
      // Created at zero with the request series, so rate() over it starts at the first shadow.
      cost.inc([route, shadow.name], run.costUSD);
    },
    skipped(route, shadow, reason) {
      skipped.inc([route, shadow.name, reason]);
    },
  };
}

const round = (n: number, digits: number) => Math.round(n * 10 ** digits) / 10 ** digits;

/** The access-log line of one shadow: names, counts and timings, like the request's own line (never text). */
export function shadowRecord(run: ShadowRun): Record<string, unknown> {
  const t = ttftMs(run);
  const u = run.usage;
  return {
    time: run.startTime.toISOString(),
    request_id: run.requestId,
    shadow_of: run.shadowOf,
    trace_id: run.trace?.traceId ?? null,
    route: run.route,
    shadow: run.shadow.name,
    model: run.requestedModel.length > 256 ? run.requestedModel.slice(0, 256) + '…' : run.requestedModel,
    provider: run.shadow.target.provider,
    upstream_model: run.shadow.target.model,
    response_model: run.responseModel ?? null,
    stream: run.stream,
    outcome: run.outcome,
    status: run.status ?? null,
    error_type: run.errorType ?? null,
    stop_reason: run.stopReason ?? null,
    input_tokens: u.input_tokens,
    output_tokens: u.output_tokens,
    cache_read_input_tokens: u.cache_read_input_tokens,
    cache_creation_input_tokens: u.cache_creation_input_tokens,
    cost_usd: round(run.costUSD, 8),
    output_chars: run.outputChars,
    duration_ms: round(durationMs(run), 1),
    ttft_ms: t === undefined ? null : round(t, 1),
  };
}

export function shadowAccessLog(sink: LineSink): ShadowRecorder {
  return { end: (run) => sink(JSON.stringify(shadowRecord(run))) };
}

/**
 * A CLIENT span per shadow, in a trace of its own linked to the primary's: inside the primary's
 * trace it would outlive its parent and skew the request's timing. The completion goes on it only
 * with content capture on, as it does for the primary.
 */
export function shadowSpans(tracing: Tracing): ShadowRecorder {
  const spans = new WeakMap<ShadowRun, LinkedSpan>();
  const wall = (run: ShadowRun, perf: number) => run.startTime.getTime() + (perf - run.startedAt);
  return {
    start(run) {
      const { shadow } = run;
      const span = tracing.linkedClientSpan(
        `chat ${shadow.target.model}`,
        run.trace,
        {
          'gen_ai.operation.name': 'chat',
          'gen_ai.provider.name': genAiProvider(shadow.target.provider),
          'gen_ai.request.model': shadow.target.model,
          'switchyard.route': run.route,
          'switchyard.shadow': shadow.name,
          'switchyard.shadow_of': run.shadowOf,
          'switchyard.request_id': run.requestId,
        },
        run.startTime.getTime(),
      );
      if (!span) return;
      spans.set(run, span);
      return { headers: span.headers, content: tracing.captureContent };
    },
    end(run) {
      const span = spans.get(run);
      if (!span) return;
      spans.delete(run);
      const attrs: Record<string, string | number | string[]> = {
        'gen_ai.usage.input_tokens': run.usage.input_tokens,
        'gen_ai.usage.output_tokens': run.usage.output_tokens,
        'switchyard.shadow.outcome': run.outcome!,
      };
      if (run.status !== undefined) attrs['http.response.status_code'] = run.status;
      if (run.responseModel) attrs['gen_ai.response.model'] = run.responseModel;
      if (run.stopReason) attrs['gen_ai.response.finish_reasons'] = [run.stopReason];
      if (run.costUSD > 0) attrs['switchyard.cost_usd'] = run.costUSD;
      const t = ttftMs(run);
      if (t !== undefined) attrs['gen_ai.server.time_to_first_token'] = t / 1000;
      if (run.output !== undefined) attrs['gen_ai.output.messages'] = run.output;
      span.end(attrs, run.outcome === 'ok' ? undefined : (run.errorType ?? run.outcome), wall(run, run.endedAt ?? performance.now()));
    },
  };
}

import type { Gateway } from '../gateway';
import { installBreakerGauge } from './breaker-metrics';
import { AccessLog, accessLogSinkFromEnv, type LineSink } from './access-log';
import { GenAiMetrics } from './genai-metrics';
import { targetTracker } from './labels';
import { SwitchyardMetrics } from './metrics';
import { tracingConfig, tracingEnabled } from './otel-config';
import type { Tracing } from './tracing';

export interface TelemetryOptions {
  /** Where access-log lines go; overrides SWITCHYARD_ACCESS_LOG (tests capture lines this way). */
  accessLogSink?: LineSink | null;
}

export interface Telemetry {
  metrics?: SwitchyardMetrics;
  genai?: GenAiMetrics;
  /** Present only when tracing is on. */
  tracing?: Tracing;
  accessLog?: AccessLog;
  /** Where the access log writes (shadow traffic adds its own lines). */
  accessSink?: LineSink;
}

/**
 * Metrics, traces and the access log, from the environment:
 *  - SWITCHYARD_METRICS=off leaves /metrics with the process metrics and config_info only;
 *  - tracing follows the OTEL_* variables (see otel-config.ts); when off, no OpenTelemetry SDK
 *    module is even loaded and no observer is added, so it costs nothing;
 *  - SWITCHYARD_ACCESS_LOG=stdout (default) | stderr | off.
 * Observers run in the order added: tracing comes before the access log so a line carries the
 * request's trace id.
 */
export function installTelemetry(gateway: Gateway, env: NodeJS.ProcessEnv, opts: TelemetryOptions = {}): Telemetry {
  const t: Telemetry = {};
  if ((env.SWITCHYARD_METRICS ?? 'on').trim().toLowerCase() !== 'off') {
    t.metrics = new SwitchyardMetrics(gateway.registry, () => gateway.inflightRequests);
    t.genai = new GenAiMetrics(gateway.registry);
    gateway.observers.add(t.metrics);
    gateway.observers.add(t.genai);
    installBreakerGauge(gateway.registry, gateway.breakers, () => gateway.table);
  }
  if (tracingEnabled(env)) {
    const { config, problems } = tracingConfig(env);
    for (const p of problems) gateway.log.warn(`tracing: ${p}`);
    const { createTracing } = require('./tracing') as typeof import('./tracing');
    t.tracing = createTracing(config, gateway.log);
    gateway.observers.add(t.tracing.observer);
    const tracing = t.tracing;
    gateway.onClose(() =>
      tracing.shutdown().catch((err) => gateway.log.warn('spans not exported at shutdown', { err: String((err as Error)?.message ?? err) })),
    );
    gateway.log.info('tracing on', {
      protocol: config.protocol,
      endpoint: withoutCredentials(config.url),
      sampler: config.sampler.kind,
      service: config.serviceName,
      captureContent: config.captureContent,
    });
  }
  const sink = opts.accessLogSink !== undefined ? opts.accessLogSink : accessLogSinkFromEnv(env.SWITCHYARD_ACCESS_LOG);
  if (sink) {
    t.accessLog = new AccessLog(sink);
    t.accessSink = sink;
    gateway.observers.add(t.accessLog);
  }
  if (t.metrics || t.tracing || t.accessLog) gateway.observers.add(targetTracker);
  return t;
}

/** An endpoint URL as it may be logged: any user:password@ part removed. */
function withoutCredentials(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    return u.toString();
  } catch {
    return '(unparsable URL)';
  }
}

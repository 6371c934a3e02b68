/**
 * Reads the standard OpenTelemetry environment variables into one plain object, from the env the
 * gateway was given (not process.env), so several gateways in one process can trace to different
 * collectors. Pure: no OpenTelemetry module is loaded here, so deciding that tracing is off costs
 * nothing.
 *
 * When is tracing on? The SDK's own default would export to localhost:4318 whenever nothing is
 * configured; a gateway started on a laptop should not try to reach a collector nobody runs. So:
 *  - OTEL_SDK_DISABLED=true, or OTEL_TRACES_EXPORTER=none → off;
 *  - OTEL_TRACES_EXPORTER=otlp → on (default endpoint if none is set);
 *  - OTEL_TRACES_EXPORTER unset → on only if OTEL_EXPORTER_OTLP_ENDPOINT or
 *    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set.
 */
export type OtlpProtocol = 'http/protobuf' | 'http/json' | 'grpc';

export type SamplerConfig =
  | { kind: 'always_on' | 'always_off' | 'parentbased_always_on' | 'parentbased_always_off' }
  | { kind: 'traceidratio' | 'parentbased_traceidratio'; ratio: number };

export interface TracingConfig {
  protocol: OtlpProtocol;
  url: string;
  /** Sent with every export; may hold credentials, so never logged. */
  headers: Record<string, string>;
  timeoutMillis?: number;
  compression?: 'gzip' | 'none';
  sampler: SamplerConfig;
  serviceName: string;
  resourceAttributes: Record<string, string>;
  batch: { scheduledDelayMillis?: number; exportTimeoutMillis?: number; maxQueueSize?: number; maxExportBatchSize?: number };
  spanLimits: { attributeValueLengthLimit?: number; attributeCountLimit?: number; eventCountLimit?: number };
  /** OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true: record prompts and completions on spans. */
  captureContent: boolean;
}

type Env = NodeJS.ProcessEnv;

const str = (env: Env, name: string): string | undefined => {
  const v = env[name]?.trim();
  return v ? v : undefined;
};

const bool = (env: Env, name: string): boolean => str(env, name)?.toLowerCase() === 'true';

function num(env: Env, name: string, problems: string[]): number | undefined {
  const v = str(env, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) {
    problems.push(`${name}='${v}' is not a non-negative number; ignored`);
    return undefined;
  }
  return n;
}

/** `key=value,key2=value2` with percent-encoded values (OTEL_EXPORTER_OTLP_HEADERS, OTEL_RESOURCE_ATTRIBUTES). */
export function parseKeyValues(raw: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!raw) return out;
  for (const part of raw.split(',')) {
    const i = part.indexOf('=');
    if (i <= 0) continue;
    const key = part.slice(0, i).trim();
    let value = part.slice(i + 1).trim();
    try {
      value = decodeURIComponent(value);
    } catch {
      /* keep the raw value */
    }
    if (key) out[key] = value;
  }
  return out;
}

export function tracingEnabled(env: Env): boolean {
  if (bool(env, 'OTEL_SDK_DISABLED')) return false;
  const exporters = str(env, 'OTEL_TRACES_EXPORTER')
    ?.split(',')
    .map((s) => s.trim().toLowerCase());
  if (exporters) return !exporters.includes('none') && exporters.includes('otlp');
  return !!(str(env, 'OTEL_EXPORTER_OTLP_ENDPOINT') || str(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'));
}

function sampler(env: Env, problems: string[]): SamplerConfig {
  const kind = (str(env, 'OTEL_TRACES_SAMPLER') ?? 'parentbased_always_on').toLowerCase();
  const argRaw = str(env, 'OTEL_TRACES_SAMPLER_ARG');
  switch (kind) {
    case 'always_on':
    case 'always_off':
    case 'parentbased_always_on':
    case 'parentbased_always_off':
      return { kind };
    case 'traceidratio':
    case 'parentbased_traceidratio': {
      const ratio = argRaw === undefined ? 1 : Number(argRaw);
      if (!Number.isFinite(ratio) || ratio < 0 || ratio > 1) {
        problems.push(`OTEL_TRACES_SAMPLER_ARG='${argRaw}' is not a ratio in [0, 1]; using 1`);
        return { kind, ratio: 1 };
      }
      return { kind, ratio };
    }
    default:
      problems.push(`OTEL_TRACES_SAMPLER='${kind}' is not supported; using parentbased_always_on`);
      return { kind: 'parentbased_always_on' };
  }
}

/** The tracing configuration, and what in the environment was ignored (for one warning at start). */
export function tracingConfig(env: Env): { config: TracingConfig; problems: string[] } {
  const problems: string[] = [];
  const rawProtocol = (str(env, 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL') ?? str(env, 'OTEL_EXPORTER_OTLP_PROTOCOL') ?? 'http/protobuf').toLowerCase();
  let protocol: OtlpProtocol = 'http/protobuf';
  if (rawProtocol === 'http/protobuf' || rawProtocol === 'http/json' || rawProtocol === 'grpc') protocol = rawProtocol;
  else problems.push(`OTLP protocol '${rawProtocol}' is not supported; using http/protobuf`);

  // A signal-specific endpoint is used as given; the generic one gets the signal's path (HTTP only).
  let url = str(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
  if (!url) {
    const base = str(env, 'OTEL_EXPORTER_OTLP_ENDPOINT') ?? (protocol === 'grpc' ? 'http://localhost:4317' : 'http://localhost:4318');
    url = protocol === 'grpc' ? base : base.replace(/\/+$/, '') + '/v1/traces';
  }

  const compression = (str(env, 'OTEL_EXPORTER_OTLP_TRACES_COMPRESSION') ?? str(env, 'OTEL_EXPORTER_OTLP_COMPRESSION'))?.toLowerCase();
  const resourceAttributes = parseKeyValues(str(env, 'OTEL_RESOURCE_ATTRIBUTES'));
  const serviceName = str(env, 'OTEL_SERVICE_NAME') ?? resourceAttributes['service.name'] ?? 'switchyard';

  const config: TracingConfig = {
    protocol,
    url,
    headers: { ...parseKeyValues(str(env, 'OTEL_EXPORTER_OTLP_HEADERS')), ...parseKeyValues(str(env, 'OTEL_EXPORTER_OTLP_TRACES_HEADERS')) },
    timeoutMillis: num(env, 'OTEL_EXPORTER_OTLP_TRACES_TIMEOUT', problems) ?? num(env, 'OTEL_EXPORTER_OTLP_TIMEOUT', problems),
    compression: compression === 'gzip' ? 'gzip' : compression === 'none' ? 'none' : undefined,
    sampler: sampler(env, problems),
    serviceName,
    resourceAttributes,
    batch: {
      scheduledDelayMillis: num(env, 'OTEL_BSP_SCHEDULE_DELAY', problems),
      exportTimeoutMillis: num(env, 'OTEL_BSP_EXPORT_TIMEOUT', problems),
      maxQueueSize: num(env, 'OTEL_BSP_MAX_QUEUE_SIZE', problems),
      maxExportBatchSize: num(env, 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE', problems),
    },
    spanLimits: {
      attributeValueLengthLimit: num(env, 'OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT', problems) ?? num(env, 'OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT', problems),
      attributeCountLimit: num(env, 'OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT', problems) ?? num(env, 'OTEL_ATTRIBUTE_COUNT_LIMIT', problems),
      eventCountLimit: num(env, 'OTEL_SPAN_EVENT_COUNT_LIMIT', problems),
    },
    captureContent: bool(env, 'OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT'),
  };
  return { config, problems };
}

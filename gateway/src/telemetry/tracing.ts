import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  trace,
  defaultTextMapGetter,
  defaultTextMapSetter,
  type Attributes,
  type Context,
  type Span,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  TracerProvider,
  type ReadableSpan,
  type Sampler,
  type SpanExporter,
} from '@opentelemetry/sdk-trace';
import type { AttemptRecord, CallContext } from '../core/call';
import type { Observer } from '../core/observers';
import type { Logger } from '../log';
import type { StreamEvent } from '../core/upstream';
import type { Target } from '../core/routes';
import { callCost } from '../core/cost';
import { inputMessages, outputFromEvents, outputFromMessage, systemInstructions } from './genai-content';
import { errorTypeOf, finalTarget, genAiProvider, isChat, isProbe, modelLabel, NO_KEY } from './labels';
import type { SamplerConfig, TracingConfig } from './otel-config';
import { setTraceIds, type TraceIds } from './trace-ids';

/**
 * OpenTelemetry traces for one gateway: a SERVER span per request and a CLIENT span per upstream
 * attempt (retries and fallbacks are siblings under the SERVER span), with the GenAI attributes.
 *
 * Nothing here is process-global: the tracer provider, the exporter and the W3C propagator belong
 * to this gateway and spans are parented explicitly through the CallContext, so no global tracer
 * provider, propagator or async-context manager is registered (they would leak between gateways
 * that share a process, as tests do). The building blocks are the ones @opentelemetry/sdk-node
 * assembles, from the same release line.
 */
export interface Tracing {
  observer: Observer;
  /** Whether prompts and completions may be recorded (OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT). */
  captureContent: boolean;
  /**
   * A CLIENT span that roots a trace of its own, linked to `link` (the request it was derived
   * from): shadow traffic, which must not sit inside the primary's trace timing. Undefined when
   * the sampler drops it.
   */
  linkedClientSpan(name: string, link: TraceIds | undefined, attributes: Attributes, startTime: number): LinkedSpan | undefined;
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
}

export interface LinkedSpan {
  /** W3C trace context naming this span, for the upstream request. */
  headers: Record<string, string>;
  end(attributes: Attributes, error: string | undefined, endTime: number): void;
}

interface CallSpans {
  server: Span;
  ctx: Context;
  attempts: Map<number, Span>;
  /** The attempt whose reply the client gets stays open until the last byte went out. */
  answering?: { span: Span; attempt: AttemptRecord };
  events?: StreamEvent[];
}

/** Each in-flight call's spans, private to tracing; dropped at requestEnd (and with the call if it never comes). */
const spansOf = new WeakMap<CallContext, CallSpans>();
const propagator = new W3CTraceContextPropagator();

export function createTracing(config: TracingConfig, log: Logger, exporterOverride?: SpanExporter): Tracing {
  const exporter = reportingFailures(exporterOverride ?? createExporter(config), log);
  const processor = new BatchSpanProcessor({ exporter, ...definedOnly(config.batch) });
  const provider = new TracerProvider({
    sampler: createSampler(config.sampler),
    spanLimits: definedOnly(config.spanLimits),
    resource: defaultResource().merge(resourceFromAttributes({ ...config.resourceAttributes, 'service.name': config.serviceName })),
    spanProcessors: [processor],
  });
  const tracer = provider.getTracer('switchyard');
  const capture = config.captureContent;

  const observer: Observer = {
    // Span attributes (max_tokens, temperature…) and captured content are read from it at the end.
    readsRequestBody: true,
    requestStart(call) {
      if (isProbe(call)) return;
      const parent = call.http ? propagator.extract(ROOT_CONTEXT, call.http.headers, defaultTextMapGetter) : ROOT_CONTEXT;
      const server = tracer.startSpan(
        `${call.http?.method ?? 'HTTP'} ${call.http?.path ?? ''}`.trim(),
        { kind: SpanKind.SERVER, startTime: wall(call, call.startedAt) },
        parent,
      );
      const sc = server.spanContext();
      setTraceIds(call, { traceId: sc.traceId, spanId: sc.spanId });
      const state: CallSpans = { server, ctx: trace.setSpan(ROOT_CONTEXT, server), attempts: new Map() };
      if (capture && server.isRecording()) {
        const events: StreamEvent[] = (state.events = []);
        call.eventTap = (ev) => events.push(ev);
      }
      spansOf.set(call, state);
    },

    attemptStart(call, target, n) {
      const state = spansOf.get(call);
      if (!state) return;
      const headers: Record<string, string> = {};
      if (!state.server.isRecording()) {
        // Sampled out: nothing will be recorded downstream either; pass the trace on without a CLIENT span.
        propagator.inject(state.ctx, headers, defaultTextMapSetter);
        return headers;
      }
      const span = tracer.startSpan(
        `chat ${target.model}`,
        { kind: SpanKind.CLIENT, attributes: attemptAttributes(call, target, n), startTime: wall(call, performance.now()) },
        state.ctx,
      );
      state.attempts.set(n, span);
      propagator.inject(trace.setSpan(ROOT_CONTEXT, span), headers, defaultTextMapSetter);
      return headers;
    },

    attemptEnd(call, a) {
      const state = spansOf.get(call);
      const span = state?.attempts.get(a.n);
      if (!state || !span) return;
      state.attempts.delete(a.n);
      if (a.status !== undefined) span.setAttribute('http.response.status_code', a.status);
      if (a.outcome !== 'ok') {
        const type = a.errorType ?? a.failure ?? '_OTHER';
        span.setAttribute('error.type', type);
        span.setAttribute('switchyard.retryable', a.retryable);
        span.setStatus({ code: SpanStatusCode.ERROR, message: type });
      }
      // A reply that is not retried is the one relayed to the client: its span lasts as long as the relay.
      if (a.outcome !== 'failure' && !a.retryable) state.answering = { span, attempt: a };
      else span.end(wall(call, a.startedAt + a.durationMs));
    },

    firstToken(call) {
      const state = spansOf.get(call);
      if (!state || call.ttftMs === undefined) return;
      state.server.addEvent('gen_ai.first_token', { 'gen_ai.server.time_to_first_token': call.ttftMs / 1000 }, wall(call, call.firstTokenAt!));
    },

    requestEnd(call) {
      const state = spansOf.get(call);
      if (!state) return;
      spansOf.delete(call);
      call.eventTap = undefined;
      const { server } = state;
      const error = errorTypeOf(call);
      const end = wall(call, call.endedAt ?? performance.now());
      if (state.answering) {
        const { span } = state.answering;
        // Usage and the response model go on the SERVER span only: GenAI-aware backends sum
        // gen_ai.usage.* over spans, and the same tokens on two spans would count twice.
        if (span.isRecording() && error && call.status < 400) span.setAttribute('error.type', error); // the stream broke after headers
        span.end(end);
      }
      for (const span of state.attempts.values()) span.end(end); // never left open, whatever happened
      if (!server.isRecording()) return server.end(end);

      const limited = call.rateLimited;
      if (limited)
        server.addEvent('switchyard.rate_limited', { 'switchyard.rate_limit.scope': limited.scope, 'switchyard.rate_limit.limit': limited.limit }, end);
      const budget = call.budgetExceeded;
      if (budget) server.addEvent('switchyard.budget_exceeded', { 'switchyard.budget.period': budget.period }, end);
      server.updateName(serverSpanName(call));
      server.setAttributes(serverAttributes(call));
      if (error) server.setAttribute('error.type', error);
      // HTTP semantics: a SERVER span is an error when the gateway failed (5xx), not when the client did (4xx).
      if (call.status >= 500 || (error && call.status < 400)) server.setStatus({ code: SpanStatusCode.ERROR, message: error });
      if (capture && isChat(call)) {
        const input = inputMessages(call.body);
        const system = systemInstructions(call.body);
        const output = call.stream ? outputFromEvents(state.events ?? []) : outputFromMessage(call.responseBody);
        if (input) server.setAttribute('gen_ai.input.messages', input);
        if (system) server.setAttribute('gen_ai.system_instructions', system);
        if (output) server.setAttribute('gen_ai.output.messages', output);
      }
      server.end(end);
    },
  };

  const linkedClientSpan = (name: string, link: TraceIds | undefined, attributes: Attributes, startTime: number): LinkedSpan | undefined => {
    const links = link?.spanId ? [{ context: { traceId: link.traceId, spanId: link.spanId, traceFlags: TraceFlags.SAMPLED } }] : [];
    const span = tracer.startSpan(name, { kind: SpanKind.CLIENT, attributes, links, startTime, root: true }, ROOT_CONTEXT);
    if (!span.isRecording()) {
      span.end();
      return undefined;
    }
    const headers: Record<string, string> = {};
    propagator.inject(trace.setSpan(ROOT_CONTEXT, span), headers, defaultTextMapSetter);
    return {
      headers,
      end(attrs, error, endTime) {
        span.setAttributes(attrs);
        if (error) {
          span.setAttribute('error.type', error);
          span.setStatus({ code: SpanStatusCode.ERROR, message: error });
        }
        span.end(endTime);
      },
    };
  };

  return {
    observer,
    captureContent: capture,
    linkedClientSpan,
    forceFlush: () => provider.forceFlush(),
    shutdown: () => provider.shutdown(),
  };
}

/**
 * Epoch milliseconds of a performance.now() instant of this call. All of a call's spans and events
 * are timed on this one clock: the SDK anchors each span to Date.now() on its own, and Date.now()'s
 * millisecond steps could otherwise put a child's end after its parent's.
 */
function wall(call: CallContext, perf: number): number {
  return call.startTime.getTime() + (perf - call.startedAt);
}

function serverSpanName(call: CallContext): string {
  const model = call.requestedModel !== undefined ? modelLabel(call, call.requestedModel) : undefined;
  switch (call.endpoint) {
    case 'messages':
      return model && model !== 'other' ? `chat ${model}` : 'chat';
    case 'count_tokens':
      return 'POST /v1/messages/count_tokens';
    case 'models':
      return 'GET /v1/models';
    default:
      return `${call.http?.method ?? 'HTTP'}${isKnownPath(call.http?.path) ? ' ' + call.http!.path : ''}`;
  }
}

const KNOWN_PATHS = new Set(['/v1/messages', '/v1/messages/count_tokens', '/v1/models']);
const isKnownPath = (p: string | undefined) => p !== undefined && KNOWN_PATHS.has(p);

function attemptAttributes(call: CallContext, target: Target, n: number): Attributes {
  return {
    'gen_ai.operation.name': call.endpoint === 'messages' ? 'chat' : call.endpoint,
    'gen_ai.provider.name': genAiProvider(target.provider),
    'gen_ai.request.model': target.model,
    'switchyard.attempt': n,
    ...serverAddress(target),
  };
}

// server.address/port of a target, parsed once per target object (a routing table's targets live as long as the table).
const addresses = new WeakMap<Target, Attributes>();
function serverAddress(target: Target): Attributes {
  let a = addresses.get(target);
  if (!a) {
    try {
      const u = new URL(target.baseURL);
      a = { 'server.address': u.hostname, 'server.port': Number(u.port) || (u.protocol === 'https:' ? 443 : 80) };
    } catch {
      a = {}; // a bad baseURL fails the attempt itself; the span just lacks the address
    }
    addresses.set(target, a);
  }
  return a;
}

function usageAttributes(call: CallContext): Attributes {
  const attrs: Attributes = {};
  if (call.responseModel) attrs['gen_ai.response.model'] = call.responseModel;
  if (call.stopReason) attrs['gen_ai.response.finish_reasons'] = [call.stopReason];
  if (isChat(call)) {
    const u = call.usage;
    attrs['gen_ai.usage.input_tokens'] = u.input_tokens;
    attrs['gen_ai.usage.output_tokens'] = u.output_tokens;
    // Cache counts only when there are some: every attribute is serialized with its full key on every export.
    if (u.cache_read_input_tokens) attrs['gen_ai.usage.cache_read.input_tokens'] = u.cache_read_input_tokens;
    if (u.cache_creation_input_tokens) attrs['gen_ai.usage.cache_creation.input_tokens'] = u.cache_creation_input_tokens;
  }
  return attrs;
}

function serverAttributes(call: CallContext): Attributes {
  const target = finalTarget(call);
  const attrs: Attributes = {
    'http.request.method': call.http?.method ?? '',
    'url.path': call.http?.path ?? '',
    'http.response.status_code': call.status,
    'switchyard.request_id': call.requestId,
    'switchyard.api_key': call.key?.name ?? NO_KEY,
  };
  // Only what a reader would not see from the span's children.
  if (call.attempts.length > 1) attrs['switchyard.attempts'] = call.attempts.length;
  if (call.fallbacks > 0) attrs['switchyard.fallbacks'] = call.fallbacks;
  if (call.route) attrs['switchyard.route'] = call.route.name;
  if (call.serviceAccount) attrs['switchyard.service_account'] = call.serviceAccount;
  if (call.clientAborted) attrs['switchyard.client_aborted'] = true;
  if (call.endpoint === 'messages' || call.endpoint === 'count_tokens') {
    attrs['gen_ai.operation.name'] = call.endpoint === 'messages' ? 'chat' : 'count_tokens';
    if (call.requestedModel !== undefined) attrs['gen_ai.request.model'] = call.requestedModel.slice(0, 256);
    if (target) attrs['gen_ai.provider.name'] = genAiProvider(target.provider);
    const body = call.body;
    if (body) {
      if (typeof body.max_tokens === 'number') attrs['gen_ai.request.max_tokens'] = body.max_tokens;
      if (typeof body.temperature === 'number') attrs['gen_ai.request.temperature'] = body.temperature;
      if (typeof body.top_p === 'number') attrs['gen_ai.request.top_p'] = body.top_p;
      if (typeof body.top_k === 'number') attrs['gen_ai.request.top_k'] = body.top_k;
      if (call.stream) attrs['switchyard.stream'] = true;
    }
    Object.assign(attrs, usageAttributes(call));
    if (isChat(call)) {
      const cost = callCost(call).total;
      if (cost > 0) attrs['switchyard.cost_usd'] = cost;
    }
  }
  return attrs;
}

function createSampler(s: SamplerConfig): Sampler {
  switch (s.kind) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return new TraceIdRatioBasedSampler(s.ratio);
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(s.ratio) });
    default:
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }
}

/** Loads only the exporter the protocol needs (the gRPC one pulls in @grpc/grpc-js). */
function createExporter(c: TracingConfig): SpanExporter {
  const common = { url: c.url, timeoutMillis: c.timeoutMillis, ...(c.compression ? { compression: c.compression as any } : {}) };
  if (c.protocol === 'grpc') {
    const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-grpc') as typeof import('@opentelemetry/exporter-trace-otlp-grpc');
    const { createEmptyMetadata } = require('@opentelemetry/otlp-grpc-exporter-base') as typeof import('@opentelemetry/otlp-grpc-exporter-base');
    const metadata = createEmptyMetadata();
    for (const [k, v] of Object.entries(c.headers)) metadata.set(k, v);
    return new OTLPTraceExporter({ ...common, metadata });
  }
  const mod =
    c.protocol === 'http/json'
      ? (require('@opentelemetry/exporter-trace-otlp-http') as typeof import('@opentelemetry/exporter-trace-otlp-http'))
      : (require('@opentelemetry/exporter-trace-otlp-proto') as typeof import('@opentelemetry/exporter-trace-otlp-proto'));
  return new mod.OTLPTraceExporter({ ...common, headers: c.headers });
}

/**
 * Export failures go to the gateway's log (at most one line a minute), not to OpenTelemetry's
 * global diag logger, which would be process-wide. The message never includes export headers.
 */
function reportingFailures(inner: SpanExporter, log: Logger): SpanExporter {
  let lastWarn = 0;
  let dropped = 0;
  return {
    export(spans: ReadableSpan[], done) {
      inner.export(spans, (result) => {
        if (result.code !== 0) {
          dropped += spans.length;
          const now = Date.now();
          if (now - lastWarn > 60_000) {
            log.warn('span export failed', { spans: dropped, err: result.error?.message ?? 'unknown' });
            lastWarn = now;
            dropped = 0;
          }
        }
        done(result);
      });
    },
    shutdown: () => inner.shutdown(),
    forceFlush: () => inner.forceFlush?.() ?? Promise.resolve(),
  };
}

function definedOnly<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as any)[k] = v;
  return out;
}

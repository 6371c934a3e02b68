import Anthropic from '@anthropic-ai/sdk';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace';
import { Registry } from 'prom-client';
import { CallContext, type AttemptRecord } from '../gateway/src/core/call';
import { silentLogger } from '../gateway/src/log';
import { RoutingTable } from '../gateway/src/routing/table';
import { installTelemetry } from '../gateway/src/telemetry';
import { accessLogSinkFromEnv } from '../gateway/src/telemetry/access-log';
import { callCost, effectivePricing, priceUsage } from '../gateway/src/core/cost';
import { modelLabel } from '../gateway/src/telemetry/labels';
import { SwitchyardMetrics } from '../gateway/src/telemetry/metrics';
import { GenAiMetrics } from '../gateway/src/telemetry/genai-metrics';
import { parseKeyValues, tracingConfig, tracingEnabled } from '../gateway/src/telemetry/otel-config';
import { createTracing } from '../gateway/src/telemetry/tracing';
import { startFakeAnthropic, textStream, type FakeAnthropic } from './helpers/fake-anthropic';
import { CLIENT_KEY, adminURL, baseURL, simpleConfig, snapshotOf, startGateway } from './helpers/gateway';
import { waitFor } from './helpers/http-server';
import { SPAN_KIND, startOtlpReceiver, type OtlpReceiver } from './helpers/otlp-receiver';
import { parseProm, scrape } from './helpers/prom';

const usage = (input: number, output: number, cacheRead = 0, cacheWrite = 0) => ({
  input_tokens: input,
  output_tokens: output,
  cache_read_input_tokens: cacheRead,
  cache_creation_input_tokens: cacheWrite,
});

describe('cost', () => {
  test('each token kind at its own price, USD per million tokens; unpriced kinds cost 0', () => {
    const c = priceUsage({ inputPerMTok: 3, outputPerMTok: 15, cacheReadPerMTok: 0.3, cacheWritePerMTok: 3.75 }, usage(1_000_000, 100_000, 2_000_000, 400_000));
    expect(c.input).toBeCloseTo(3, 12);
    expect(c.output).toBeCloseTo(1.5, 12);
    expect(c.cacheRead).toBeCloseTo(0.6, 12);
    expect(c.cacheWrite).toBeCloseTo(1.5, 12);
    expect(c.total).toBeCloseTo(6.6, 12);
    expect(priceUsage({ inputPerMTok: 3 }, usage(10, 10, 10, 10)).total).toBeCloseTo(30 / 1e6, 15);
    expect(priceUsage(undefined, usage(10, 10)).total).toBe(0);
  });

  test("a target's pricing replaces its route's", () => {
    expect(effectivePricing({ pricing: { inputPerMTok: 1, outputPerMTok: 2 } }, { pricing: { outputPerMTok: 9 } })).toEqual({ outputPerMTok: 9 });
    expect(effectivePricing({ pricing: { inputPerMTok: 1 } }, {})).toEqual({ inputPerMTok: 1 });
    expect(effectivePricing(undefined, undefined)).toBeUndefined();
  });

  test('count_tokens reports a count, not usage: it costs nothing', () => {
    const table = new RoutingTable(snapshotOf(simpleConfig('http://127.0.0.1:1', { routeSpec: { pricing: { inputPerMTok: 3 } } })));
    const call = new CallContext(Date.now());
    call.route = table.route('claude-test');
    call.target = call.route!.targets[0];
    call.usage.input_tokens = 1000;
    call.endpoint = 'count_tokens';
    expect(callCost(call).total).toBe(0);
    call.endpoint = 'messages';
    call.cost = undefined;
    expect(callCost(call).total).toBeCloseTo(0.003, 12);
  });
});

describe('OTEL_* configuration', () => {
  test('tracing is on only with an OTLP exporter or endpoint, and off when disabled', () => {
    expect(tracingEnabled({})).toBe(false);
    expect(tracingEnabled({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' })).toBe(true);
    expect(tracingEnabled({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:4318/v1/traces' })).toBe(true);
    expect(tracingEnabled({ OTEL_TRACES_EXPORTER: 'otlp' })).toBe(true);
    expect(tracingEnabled({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' })).toBe(false);
    expect(tracingEnabled({ OTEL_SDK_DISABLED: 'true', OTEL_TRACES_EXPORTER: 'otlp' })).toBe(false);
    expect(tracingEnabled({ OTEL_TRACES_EXPORTER: 'zipkin' })).toBe(false);
  });

  test('endpoints, headers, protocol, sampler and service name follow the spec', () => {
    const { config, problems } = tracingConfig({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/',
      OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer%20abc,x-tenant=t1',
      OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'x-tenant=t2',
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0.25',
      OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=prod,service.name=from-attrs',
      OTEL_BSP_SCHEDULE_DELAY: '200',
    });
    expect(problems).toEqual([]);
    expect(config).toMatchObject({
      protocol: 'http/protobuf',
      url: 'http://collector:4318/v1/traces',
      headers: { authorization: 'Bearer abc', 'x-tenant': 't2' },
      sampler: { kind: 'parentbased_traceidratio', ratio: 0.25 },
      serviceName: 'from-attrs',
      resourceAttributes: { 'deployment.environment': 'prod' },
      batch: { scheduledDelayMillis: 200 },
      captureContent: false,
    });
    expect(tracingConfig({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://x/custom', OTEL_SERVICE_NAME: 'gw' }).config).toMatchObject({
      url: 'http://x/custom',
      serviceName: 'gw',
    });
    expect(tracingConfig({ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }).config.url).toBe('http://localhost:4317');
    expect(tracingConfig({ OTEL_TRACES_SAMPLER: 'bogus' }).problems).toHaveLength(1);
    expect(parseKeyValues('a=1, b = two ,=x,c')).toEqual({ a: '1', b: 'two' });
  });

  test('SWITCHYARD_ACCESS_LOG', () => {
    expect(accessLogSinkFromEnv('off')).toBeUndefined();
    expect(accessLogSinkFromEnv(undefined)).toBeInstanceOf(Function);
    expect(accessLogSinkFromEnv('stderr')).toBeInstanceOf(Function);
    expect(() => accessLogSinkFromEnv('/var/log/x')).toThrow(/stdout, stderr or off/);
  });
});

describe('observers on a CallContext refused by the gateway rate limiter', () => {
  // What the limits feature leaves on a call it refuses: a 429 rate_limit_error and call.rateLimited.
  function refused(scope: 'key' | 'route'): CallContext {
    const table = new RoutingTable(snapshotOf(simpleConfig('http://127.0.0.1:1')));
    const call = new CallContext(Date.now());
    call.http = { method: 'POST', path: '/v1/messages', headers: {} };
    call.endpoint = 'messages';
    call.table = table;
    call.key = [...table.keys][0];
    call.requestedModel = 'claude-test';
    call.route = table.route('claude-test');
    call.status = 429;
    call.errorType = 'rate_limit_error';
    call.rateLimited = { scope, limit: 'requestsPerMinute' };
    call.endedAt = performance.now();
    return call;
  }

  test('switchyard_rate_limited_total{scope,api_key}', async () => {
    const registry = new Registry();
    const m = new SwitchyardMetrics(registry, () => 0);
    m.requestEnd(refused('key'));
    m.requestEnd(refused('key'));
    m.requestEnd(refused('route'));
    const s = parseProm(await registry.metrics());
    expect(s.sum('switchyard_rate_limited_total', { scope: 'key', api_key: 'default/team-a' })).toBe(2);
    expect(s.sum('switchyard_rate_limited_total', { scope: 'route', api_key: 'default/team-a' })).toBe(1);
    expect(s.sum('switchyard_requests_total', { code: '429', route: 'default/main', provider: 'none' })).toBe(3);
  });

  test('series a request updates are resolved once per label combination, and a registry reset starts them afresh', async () => {
    const registry = new Registry();
    const m = new SwitchyardMetrics(registry, () => 0);
    const ok = refused('key');
    ok.rateLimited = undefined;
    ok.status = 200;
    ok.errorType = undefined;
    m.requestEnd(refused('key'));
    m.requestEnd(ok);
    m.requestEnd(ok);
    let s = parseProm(await registry.metrics());
    expect(s.sum('switchyard_requests_total', { code: '429', route: 'default/main' })).toBe(1);
    expect(s.sum('switchyard_requests_total', { code: '200', route: 'default/main' })).toBe(2);
    expect(s.sum('switchyard_request_duration_seconds_count', { route: 'default/main' })).toBe(3);
    registry.resetMetrics();
    m.requestEnd(ok);
    s = parseProm(await registry.metrics());
    expect(s.sum('switchyard_requests_total', { code: '429', route: 'default/main' })).toBe(0);
    expect(s.sum('switchyard_requests_total', { code: '200', route: 'default/main' })).toBe(1);
    expect(s.sum('switchyard_request_duration_seconds_count', { route: 'default/main' })).toBe(1);
  });

  test('upstream attempts are counted per provider and outcome, and a registry reset starts them afresh', async () => {
    const registry = new Registry();
    const m = new SwitchyardMetrics(registry, () => 0);
    const call = refused('key');
    const at = (provider: string, outcome: AttemptRecord['outcome'], status?: number, failure?: AttemptRecord['failure']): AttemptRecord =>
      ({ target: { provider, model: 'm' }, n: 1, startedAt: 0, durationMs: 1, outcome, status, failure, retryable: false }) as AttemptRecord;
    for (const a of [
      at('anthropic', 'ok', 200),
      at('anthropic', 'ok', 200),
      at('anthropic', 'error', 429),
      at('openai', 'error', 503),
      at('openai', 'failure', undefined, 'connect'),
    ])
      m.attemptEnd(call, a);
    const count = (s: ReturnType<typeof parseProm>, provider: string, outcome: string) => s.sum('switchyard_upstream_attempts_total', { provider, outcome });
    let s = parseProm(await registry.metrics());
    expect([
      count(s, 'anthropic', 'ok'),
      count(s, 'anthropic', '429'),
      count(s, 'openai', '5xx'),
      count(s, 'openai', 'connect'),
      count(s, 'openai', 'ok'),
    ]).toEqual([2, 1, 1, 1, 0]);
    registry.resetMetrics();
    m.attemptEnd(call, at('anthropic', 'ok', 200));
    s = parseProm(await registry.metrics());
    expect([count(s, 'anthropic', 'ok'), count(s, 'anthropic', '429')]).toEqual([1, 0]);
  });

  test('GenAI series are resolved once per label combination, appear only once observed, and a registry reset starts them afresh', async () => {
    const registry = new Registry();
    const m = new GenAiMetrics(registry);
    const ok = refused('key');
    ok.rateLimited = undefined;
    ok.status = 200;
    ok.errorType = undefined;
    ok.usage.input_tokens = 10;
    ok.usage.output_tokens = 3;
    const labels = { gen_ai_original_model: 'claude-test', route: 'default/main' };
    m.requestEnd(refused('key'));
    let s = parseProm(await registry.metrics());
    expect(s.sum('gen_ai_server_request_duration_seconds_count', { ...labels, error_type: 'rate_limit_error' })).toBe(1);
    // A refused request has no tokens: no token series yet, not even zero-count ones.
    expect([...s.samples.keys()].filter((k) => k.startsWith('gen_ai_client_token_usage'))).toEqual([]);
    m.requestEnd(ok);
    m.requestEnd(ok);
    s = parseProm(await registry.metrics());
    expect(s.sum('gen_ai_server_request_duration_seconds_count', { ...labels, error_type: 'rate_limit_error' })).toBe(1);
    expect(s.sum('gen_ai_server_request_duration_seconds_count', labels)).toBe(3);
    expect(s.sum('gen_ai_client_token_usage_sum', { ...labels, gen_ai_token_type: 'input' })).toBe(20);
    expect(s.sum('gen_ai_client_token_usage_sum', { ...labels, gen_ai_token_type: 'output' })).toBe(6);
    expect([...s.samples.keys()].filter((k) => k.includes('gen_ai_token_type="cached_input"'))).toEqual([]);
    registry.resetMetrics();
    m.requestEnd(ok);
    s = parseProm(await registry.metrics());
    expect(s.sum('gen_ai_server_request_duration_seconds_count', labels)).toBe(1);
    expect([...s.samples.keys()].filter((k) => k.includes('error_type="rate_limit_error"'))).toEqual([]);
    expect(s.sum('gen_ai_client_token_usage_sum', { ...labels, gen_ai_token_type: 'input' })).toBe(10);
  });

  test('the SERVER span gets a rate-limit event and error.type', async () => {
    const exporter = new InMemorySpanExporter();
    const { config } = tracingConfig({ OTEL_TRACES_EXPORTER: 'otlp' });
    const tracing = createTracing(config, silentLogger, exporter);
    const call = refused('route');
    tracing.observer.requestStart!(call);
    tracing.observer.requestEnd!(call);
    await tracing.forceFlush();
    const [span] = exporter.getFinishedSpans();
    expect(span.name).toBe('chat claude-test');
    expect(span.attributes['error.type']).toBe('rate_limit_error');
    expect(span.events.map((e) => [e.name, e.attributes])).toEqual([
      ['switchyard.rate_limited', { 'switchyard.rate_limit.scope': 'route', 'switchyard.rate_limit.limit': 'requestsPerMinute' }],
    ]);
    await tracing.shutdown();
  });

  test('model labels take configured names only', () => {
    const call = refused('key');
    expect(modelLabel(call, 'claude-test')).toBe('claude-test');
    expect(modelLabel(call, 'test-alias')).toBe('test-alias');
    expect(modelLabel(call, 'claude-upstream-1')).toBe('claude-upstream-1');
    expect(modelLabel(call, 'claude-upstream-1-20250101')).toBe('other');
    expect(modelLabel(call, undefined)).toBe('none');
  });
});

describe('gateways with telemetry switched different ways', () => {
  let fake: FakeAnthropic;
  let otlp: OtlpReceiver;
  beforeAll(async () => {
    fake = await startFakeAnthropic();
    otlp = await startOtlpReceiver();
  });
  afterAll(async () => {
    await fake.close();
    await otlp.close();
  });

  const TRACE = 'aaaabbbbccccddddeeeeffff00001111';
  const TP = `00-${TRACE}-1111222233334444-01`;
  const ask = (gwURL: string, content: string, stream = false) => {
    const client = new Anthropic({ baseURL: gwURL, apiKey: CLIENT_KEY, maxRetries: 0 });
    const body = { model: 'claude-test', max_tokens: 50, system: 'You are terse.', messages: [{ role: 'user' as const, content }] };
    return stream
      ? client.messages.stream(body, { headers: { traceparent: TP } }).finalMessage()
      : client.messages.create(body, { headers: { traceparent: TP } });
  };

  test('tracing off: no SDK, no traceparent upstream; the access log still carries the client trace id', async () => {
    const lines: string[] = [];
    const gw = await startGateway(snapshotOf(simpleConfig(fake.url)));
    try {
      const tel = installTelemetry(gw, {}, { accessLogSink: (l) => lines.push(l) });
      expect(tel.tracing).toBeUndefined();
      await ask(baseURL(gw), 'hello');
      expect(fake.last().headers.traceparent).toBeUndefined();
      await waitFor(() => lines.length === 1);
      expect(JSON.parse(lines[0])).toMatchObject({ trace_id: TRACE, span_id: null, status: 200 });
    } finally {
      await gw.close();
    }
  });

  test('a client that leaves before the response starts: 499, an aborted attempt, one log line', async () => {
    const lines: string[] = [];
    const gw = await startGateway(snapshotOf(simpleConfig(fake.url)));
    try {
      installTelemetry(gw, {}, { accessLogSink: (l) => lines.push(l) });
      fake.queue.push({ kind: 'hang' });
      const ac = new AbortController();
      const client = new Anthropic({ baseURL: baseURL(gw), apiKey: CLIENT_KEY, maxRetries: 0 });
      const pending = client.messages
        .create({ model: 'claude-test', max_tokens: 5, messages: [{ role: 'user', content: 'wait' }] }, { signal: ac.signal })
        .catch((e) => e);
      await waitFor(() => fake.received.some((r) => r.body?.messages?.[0]?.content === 'wait'));
      ac.abort();
      expect(await pending).toBeInstanceOf(Anthropic.APIUserAbortError);
      await waitFor(() => lines.length === 1);
      expect(JSON.parse(lines[0])).toMatchObject({ status: 499, client_aborted: true, error_type: 'cancelled', route: 'default/main' });
      const s = await waitFor(async () => {
        const m = await scrape(adminURL(gw));
        return m.sum('switchyard_upstream_attempts_total', { outcome: 'aborted' }) === 1 ? m : undefined;
      });
      expect(s.sum('switchyard_requests_total', { code: '499', route: 'default/main', provider: 'anthropic' })).toBe(1);
      expect(s.sum('gen_ai_server_request_duration_seconds_count', { error_type: 'cancelled' })).toBe(1);
    } finally {
      await gw.close();
    }
  });

  test('SWITCHYARD_METRICS=off and SWITCHYARD_ACCESS_LOG=off leave the process metrics only', async () => {
    const gw = await startGateway(snapshotOf(simpleConfig(fake.url)));
    try {
      const tel = installTelemetry(gw, { SWITCHYARD_METRICS: 'off', SWITCHYARD_ACCESS_LOG: 'off' });
      expect(tel).toEqual({});
      await ask(baseURL(gw), 'hello');
      const s = await scrape(adminURL(gw));
      expect(s.types.has('switchyard_requests_total')).toBe(false);
      expect(s.types.has('switchyard_config_info')).toBe(true);
    } finally {
      await gw.close();
    }
  });

  test('content capture is opt-in: prompts and completions on the SERVER span, non-streamed and streamed', async () => {
    const gw = await startGateway(snapshotOf(simpleConfig(fake.url)));
    try {
      const tel = installTelemetry(
        gw,
        {
          OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
          OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
          OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: 'true',
          OTEL_SERVICE_NAME: 'capture',
        },
        { accessLogSink: null },
      );
      await ask(baseURL(gw), 'capture-me-json');
      fake.queue.push({ kind: 'stream', events: textStream('claude-upstream-1', ['stream', 'ed answer']) });
      await ask(baseURL(gw), 'capture-me-stream', true);
      await tel.tracing!.forceFlush();
      const servers = () => otlp.spans.filter((s) => s.kind === SPAN_KIND.SERVER && s.resource['service.name'] === 'capture');
      await waitFor(() => servers().length === 2);
      const [json, streamed] = servers();
      expect(JSON.parse(String(json.attributes['gen_ai.input.messages']))).toEqual([{ role: 'user', parts: [{ type: 'text', content: 'capture-me-json' }] }]);
      expect(JSON.parse(String(json.attributes['gen_ai.system_instructions']))).toEqual([{ type: 'text', content: 'You are terse.' }]);
      expect(JSON.parse(String(json.attributes['gen_ai.output.messages']))).toEqual([
        { role: 'assistant', parts: [{ type: 'text', content: 'Hello!' }], finish_reason: 'end_turn' },
      ]);
      expect(String(streamed.attributes['gen_ai.input.messages'])).toContain('capture-me-stream');
      expect(JSON.parse(String(streamed.attributes['gen_ai.output.messages']))).toEqual([
        { role: 'assistant', parts: [{ type: 'text', content: 'streamed answer' }], finish_reason: 'end_turn' },
      ]);
    } finally {
      await gw.close();
    }
  });

  test('default protocol is OTLP http/protobuf; spans still queued are flushed when the gateway closes', async () => {
    const gw = await startGateway(snapshotOf(simpleConfig(fake.url)));
    const before = otlp.requests.length;
    // Default batch delay (5 s) is longer than the test waits: only the close hook can deliver the span in time.
    installTelemetry(gw, { OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url }, { accessLogSink: null });
    await ask(baseURL(gw), 'protobuf please');
    expect(fake.last().headers.traceparent).toMatch(new RegExp(`^00-${TRACE}-[0-9a-f]{16}-01$`));
    await gw.close();
    const sent = otlp.requests.slice(before);
    expect(sent.length).toBeGreaterThan(0);
    expect(sent[0].contentType).toBe('application/x-protobuf');
    expect(Buffer.concat(sent.map((r) => r.raw)).includes(Buffer.from(TRACE, 'hex'))).toBe(true);
  });

  test('OTEL_TRACES_SAMPLER=always_off: nothing exported, upstream told the trace is not sampled', async () => {
    const gw = await startGateway(snapshotOf(simpleConfig(fake.url)));
    const before = otlp.requests.length;
    try {
      const tel = installTelemetry(gw, { OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url, OTEL_TRACES_SAMPLER: 'always_off' }, { accessLogSink: null });
      await ask(baseURL(gw), 'not sampled');
      expect(fake.last().headers.traceparent).toMatch(new RegExp(`^00-${TRACE}-[0-9a-f]{16}-00$`));
      await tel.tracing!.forceFlush();
    } finally {
      await gw.close();
    }
    expect(otlp.requests.length).toBe(before);
  });
});

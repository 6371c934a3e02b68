import Anthropic from '@anthropic-ai/sdk';
import type { Gateway } from '../gateway/src/gateway';
import { createLogger } from '../gateway/src/log';
import { installTelemetry, type Telemetry } from '../gateway/src/telemetry';
import { startFakeAnthropic, textStream, type FakeAnthropic } from './helpers/fake-anthropic';
import { CLIENT_KEY, UPSTREAM_KEY, adminURL, baseURL, modelRoute, simpleConfig, snapshotOf, startGateway } from './helpers/gateway';
import { waitFor } from './helpers/http-server';
import { SPAN_KIND, startOtlpReceiver, type OtlpReceiver } from './helpers/otlp-receiver';
import { scrape, seriesKey, type Scrape } from './helpers/prom';

/**
 * One gateway with metrics, tracing (OTLP/HTTP JSON to an in-test receiver) and the access log,
 * driven by the official SDK through a mix of outcomes; then every signal is checked against
 * what the traffic must have produced.
 */
const PROMPT = 'prompt-text-that-must-stay-private-5c1e';
const OTLP_SECRET = 'otlp-collector-token-8d2b';
const WRONG_KEY = 'sk-not-a-configured-key-0042';
const MAIN = 'default/main';
const FB = 'default/fb';
const KEY = 'default/team-a';

/** A distinct client trace per request, so each request's spans are found by trace id. */
const traceIdOf = (i: number) => `4bf92f3577b34da6a3ce929d0e0e${(0x4700 + i).toString(16)}`;
const traceparent = (i: number) => `00-${traceIdOf(i)}-00f067aa0ba902b7-01`;

describe('telemetry: metrics, traces and access log for a mix of SDK traffic', () => {
  let fake: FakeAnthropic;
  let otlp: OtlpReceiver;
  let gw: Gateway;
  let tel: Telemetry;
  const accessLines: string[] = [];
  const opLog: string[] = [];
  let before: Scrape;
  let after: Scrape;

  const access = () => accessLines.map((l) => JSON.parse(l));
  const spansOf = (i: number) => otlp.spans.filter((s) => s.traceId === traceIdOf(i));
  const server = (i: number) => {
    const s = spansOf(i).filter((x) => x.kind === SPAN_KIND.SERVER);
    expect(s).toHaveLength(1);
    return s[0];
  };
  const clients = (i: number) =>
    spansOf(i)
      .filter((x) => x.kind === SPAN_KIND.CLIENT)
      .sort((a, b) => Number(a.attributes['switchyard.attempt']) - Number(b.attributes['switchyard.attempt']));
  const delta = (name: string, labels: Record<string, string>) =>
    (after.samples.get(seriesKey(name, labels)) ?? 0) - (before.samples.get(seriesKey(name, labels)) ?? 0);
  const deltaSum = (name: string, match: Record<string, string> = {}) => after.sum(name, match) - before.sum(name, match);

  beforeAll(async () => {
    fake = await startFakeAnthropic();
    otlp = await startOtlpReceiver();
    const pricing = { inputPerMTok: 3, outputPerMTok: 15, cacheReadPerMTok: 0.3, cacheWritePerMTok: 3.75 };
    const target = (model: string, priority: number, extra: object = {}) => ({
      provider: 'anthropic',
      model,
      baseURL: fake.url,
      credentialsRef: { name: 'upstream' },
      priority,
      ...extra,
    });
    const snapshot = snapshotOf([
      ...simpleConfig(fake.url, { routeSpec: { retry: { attempts: 2, on: ['429', '5xx', 'timeout', 'connect'] }, pricing } }),
      modelRoute('fb', {
        model: 'claude-fb',
        targets: [target('up-primary', 0), target('up-backup', 1, { pricing: { inputPerMTok: 1, outputPerMTok: 10 } })],
        retry: { attempts: 1, on: ['5xx'] },
        pricing: { inputPerMTok: 1, outputPerMTok: 2 },
      }),
    ]);
    gw = await startGateway(snapshot, { log: createLogger('gateway', 'debug', (l) => opLog.push(l)) });
    tel = installTelemetry(
      gw,
      {
        OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_EXPORTER_OTLP_HEADERS: `authorization=Bearer%20${OTLP_SECRET}`,
        OTEL_SERVICE_NAME: 'switchyard-test',
        OTEL_BSP_SCHEDULE_DELAY: '50',
      },
      { accessLogSink: (l) => accessLines.push(l) },
    );
    before = await scrape(adminURL(gw));

    const client = new Anthropic({ baseURL: baseURL(gw), apiKey: CLIENT_KEY, maxRetries: 0 });
    const ask = (i: number, over: Record<string, unknown> = {}, c = client) =>
      c.messages.create({ model: 'claude-test', max_tokens: 100, messages: [{ role: 'user', content: `${PROMPT} #${i}` }], ...over } as any, {
        headers: { traceparent: traceparent(i) },
      });

    // 1: ok, with cache usage (priced four ways)
    fake.queue.push({
      kind: 'message',
      message: { usage: { input_tokens: 100, output_tokens: 50, cache_read_input_tokens: 1000, cache_creation_input_tokens: 200 } },
    });
    await ask(1);
    // 2: 400 from the gateway's validation
    await expect(ask(2, { max_tokens: -1 })).rejects.toBeInstanceOf(Anthropic.BadRequestError);
    // 3: 401, unknown key
    await expect(ask(3, {}, new Anthropic({ baseURL: baseURL(gw), apiKey: WRONG_KEY, maxRetries: 0 }))).rejects.toBeInstanceOf(Anthropic.AuthenticationError);
    // 4: upstream 429, not retried
    fake.queue.push({ kind: 'error', status: 429, type: 'rate_limit_error', message: 'slow down', headers: { 'x-should-retry': 'false' } });
    await expect(ask(4)).rejects.toBeInstanceOf(Anthropic.RateLimitError);
    // 5: upstream 500, not retried
    fake.queue.push({ kind: 'error', status: 500, type: 'api_error', message: 'boom', headers: { 'x-should-retry': 'false' } });
    await expect(ask(5)).rejects.toBeInstanceOf(Anthropic.InternalServerError);
    // 6: 529 then ok: a retry (two sibling attempts)
    fake.queue.push({ kind: 'error', status: 529, type: 'overloaded_error', message: 'busy' });
    await ask(6);
    // 7: 503 on the primary group, then the backup group answers: a fallback
    fake.queue.push({ kind: 'error', status: 503, type: 'overloaded_error', message: 'down' });
    await ask(7, { model: 'claude-fb' });
    // 8: a stream
    const s8 = client.messages.stream(
      { model: 'claude-test', max_tokens: 100, messages: [{ role: 'user', content: `${PROMPT} #8` }] },
      { headers: { traceparent: traceparent(8) } },
    );
    expect((await s8.finalMessage()).usage.output_tokens).toBe(6);
    // 9: a stream the client abandons after the first text
    fake.queue.push({
      kind: 'stream',
      events: textStream(
        'claude-upstream-1',
        Array.from({ length: 20 }, (_, k) => `piece${k} `),
      ),
      delayMs: 100,
    });
    const ac = new AbortController();
    const s9 = client.messages.stream(
      { model: 'claude-test', max_tokens: 100, messages: [{ role: 'user', content: `${PROMPT} #9` }] },
      { headers: { traceparent: traceparent(9) }, signal: ac.signal },
    );
    s9.on('text', () => ac.abort());
    await s9.finalMessage().catch(() => undefined);
    // 10: a model nobody configured
    await expect(ask(10, { model: 'no-such-model' })).rejects.toBeInstanceOf(Anthropic.NotFoundError);

    await waitFor(() => accessLines.length >= 10, 10_000, 'ten access-log lines');
    await tel.tracing!.forceFlush();
    await waitFor(() => spansOf(9).length >= 2 && otlp.spans.filter((s) => s.kind === SPAN_KIND.SERVER).length >= 10, 10_000, 'spans of ten requests');
    after = await scrape(adminURL(gw));
  }, 30_000);

  afterAll(async () => {
    await gw?.close();
    await fake?.close();
    await otlp?.close();
  });

  test('switchyard_requests_total moves by exactly the traffic sent, with bounded labels', () => {
    const req = (route: string, provider: string, model: string, api_key: string, code: string) =>
      delta('switchyard_requests_total', { route, provider, model, api_key, code });
    expect(req(MAIN, 'anthropic', 'claude-test', KEY, '200')).toBe(4); // 1, 6, 8, 9 (an abort after headers keeps its 200)
    expect(req('none', 'none', 'none', KEY, '400')).toBe(1);
    expect(req('none', 'none', 'none', 'unauthenticated', '401')).toBe(1);
    expect(req(MAIN, 'anthropic', 'claude-test', KEY, '429')).toBe(1);
    expect(req(MAIN, 'anthropic', 'claude-test', KEY, '500')).toBe(1);
    expect(req(FB, 'anthropic', 'claude-fb', KEY, '200')).toBe(1);
    expect(req('none', 'none', 'other', KEY, '404')).toBe(1);
    expect(deltaSum('switchyard_requests_total')).toBe(10);
    expect(after.text).not.toContain('no-such-model');
  });

  test('upstream attempts, fallbacks and tokens', () => {
    expect(delta('switchyard_upstream_attempts_total', { provider: 'anthropic', outcome: 'ok' })).toBe(5);
    expect(delta('switchyard_upstream_attempts_total', { provider: 'anthropic', outcome: '429' })).toBe(1);
    expect(delta('switchyard_upstream_attempts_total', { provider: 'anthropic', outcome: '5xx' })).toBe(3);
    expect(deltaSum('switchyard_upstream_attempts_total')).toBe(9);
    expect(delta('switchyard_fallbacks_total', { route: FB })).toBe(1);
    expect(deltaSum('switchyard_fallbacks_total')).toBe(1);
    const tok = (type: string, route = MAIN) => delta('switchyard_tokens_total', { type, route, api_key: KEY });
    expect(tok('input')).toBe(100 + 12 + 12 + 12);
    expect(tok('output')).toBe(50 + 6 + 6 + 1); // the abandoned stream counts what message_start reported
    expect(tok('cache_read')).toBe(1000);
    expect(tok('cache_creation')).toBe(200);
    expect(tok('input', FB)).toBe(12);
    expect(tok('output', FB)).toBe(6);
    expect(deltaSum('switchyard_rate_limited_total')).toBe(0); // upstream 429s are not the gateway's limits
  });

  test('cost prices input, output, cache reads and cache writes apart; a target price replaces the route one', () => {
    const main = (100 * 3 + 50 * 15 + 1000 * 0.3 + 200 * 3.75 + 2 * (12 * 3 + 6 * 15) + (12 * 3 + 1 * 15)) / 1e6;
    expect(delta('switchyard_cost_usd_total', { route: MAIN, api_key: KEY })).toBeCloseTo(main, 12);
    expect(delta('switchyard_cost_usd_total', { route: FB, api_key: KEY })).toBeCloseTo((12 * 1 + 6 * 10) / 1e6, 12);
  });

  test('histograms observed every request, streams once each for time to first token', () => {
    expect(deltaSum('switchyard_request_duration_seconds_count')).toBe(10);
    expect(deltaSum('switchyard_request_duration_seconds_bucket', { le: '+Inf' })).toBe(10);
    expect(deltaSum('switchyard_request_duration_seconds_sum')).toBeGreaterThan(0);
    expect(deltaSum('switchyard_time_to_first_token_seconds_count')).toBe(2);
    expect(deltaSum('switchyard_time_to_first_token_seconds_count', { route: MAIN, model: 'claude-test', provider: 'anthropic' })).toBe(2);
    expect(after.sum('switchyard_inflight_requests')).toBe(0);
    expect(after.sum('switchyard_config_info', { version: gw.table!.version })).toBe(1);
    expect(after.types.get('process_cpu_user_seconds_total')).toBe('counter');
  });

  test('GenAI metrics under Envoy AI Gateway names and labels', () => {
    // Every Messages call after auth (all but the 401).
    expect(deltaSum('gen_ai_server_request_duration_seconds_count')).toBe(9);
    expect(deltaSum('gen_ai_server_request_duration_seconds_count', { error_type: 'rate_limit_error' })).toBe(1);
    expect(deltaSum('gen_ai_server_request_duration_seconds_count', { error_type: 'api_error' })).toBe(1);
    expect(deltaSum('gen_ai_server_request_duration_seconds_count', { error_type: 'invalid_request_error' })).toBe(1);
    expect(deltaSum('gen_ai_server_request_duration_seconds_count', { error_type: 'not_found_error', gen_ai_original_model: 'other' })).toBe(1);
    expect(deltaSum('gen_ai_server_request_duration_seconds_count', { error_type: 'cancelled' })).toBe(1);
    const ok = {
      gen_ai_operation_name: 'chat',
      gen_ai_provider_name: 'anthropic',
      gen_ai_original_model: 'claude-test',
      gen_ai_request_model: 'claude-upstream-1',
      gen_ai_response_model: 'claude-upstream-1',
      route: MAIN,
    };
    expect(delta('gen_ai_server_request_duration_seconds_count', ok)).toBe(3); // 1, 6, 8
    expect(deltaSum('gen_ai_client_token_usage_count', { gen_ai_token_type: 'input' })).toBe(5);
    expect(deltaSum('gen_ai_client_token_usage_sum', { gen_ai_token_type: 'input' })).toBe(148);
    expect(deltaSum('gen_ai_client_token_usage_sum', { gen_ai_token_type: 'cached_input' })).toBe(1000);
    expect(deltaSum('gen_ai_client_token_usage_sum', { gen_ai_token_type: 'cache_creation_input' })).toBe(200);
    expect(
      deltaSum('gen_ai_client_token_usage_sum', {
        gen_ai_token_type: 'output',
        gen_ai_original_model: 'claude-fb',
        gen_ai_request_model: 'up-backup',
        route: FB,
      }),
    ).toBe(6);
    expect(deltaSum('gen_ai_server_time_to_first_token_seconds_count')).toBe(2);
    expect(deltaSum('gen_ai_server_time_per_output_token_seconds_count')).toBe(1); // the completed stream only
  });

  test('one access-log line per request with ids, usage, cost and attempts', () => {
    const lines = access();
    expect(lines).toHaveLength(10);
    const byTrace = (i: number) => lines.find((l) => l.trace_id === traceIdOf(i));
    const first = byTrace(1);
    expect(first).toMatchObject({
      request_id: expect.stringMatching(/^req_/),
      api_key: KEY,
      route: MAIN,
      model: 'claude-test',
      provider: 'anthropic',
      upstream_model: 'claude-upstream-1',
      status: 200,
      error_type: null,
      input_tokens: 100,
      output_tokens: 50,
      cache_read_input_tokens: 1000,
      cache_creation_input_tokens: 200,
      stream: false,
      ttft_ms: null,
    });
    expect(first.cost_usd).toBeCloseTo(0.0021, 10);
    expect(first.duration_ms).toBeGreaterThan(0);
    expect(first.attempts).toEqual([expect.objectContaining({ provider: 'anthropic', model: 'claude-upstream-1', outcome: 'ok', status: 200 })]);
    expect(new Date(first.time).getTime()).toBeGreaterThan(0);
    expect(byTrace(3)).toMatchObject({ api_key: 'unauthenticated', status: 401, error_type: 'authentication_error', route: null, attempts: [] });
    expect(byTrace(6).attempts.map((a: any) => a.status)).toEqual([529, 200]);
    expect(byTrace(7)).toMatchObject({ route: FB, upstream_model: 'up-backup', fallbacks: 1 });
    expect(byTrace(8)).toMatchObject({ stream: true, status: 200, output_tokens: 6, stop_reason: 'end_turn' });
    expect(byTrace(8).ttft_ms).toBeGreaterThan(0);
    expect(byTrace(9)).toMatchObject({ stream: true, status: 200, client_aborted: true, error_type: 'cancelled', output_tokens: 1 });
    // The span ids in the log are the SERVER spans'.
    expect(byTrace(1).span_id).toBe(server(1).spanId);
  });

  test('SERVER span continues the client trace; CLIENT span per attempt; upstream got the CLIENT span as parent', () => {
    const s = server(1);
    expect(s.name).toBe('chat claude-test');
    expect(s.parentSpanId).toBe('00f067aa0ba902b7');
    expect(s.resource['service.name']).toBe('switchyard-test');
    expect(s.attributes).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'anthropic',
      'gen_ai.request.model': 'claude-test',
      'gen_ai.response.model': 'claude-upstream-1',
      'gen_ai.usage.input_tokens': 100,
      'gen_ai.usage.output_tokens': 50,
      'gen_ai.usage.cache_read.input_tokens': 1000,
      'gen_ai.usage.cache_creation.input_tokens': 200,
      'gen_ai.response.finish_reasons': ['end_turn'],
      'gen_ai.request.max_tokens': 100,
      'http.response.status_code': 200,
      'switchyard.api_key': KEY,
      'switchyard.route': MAIN,
    });
    expect(s.attributes['error.type']).toBeUndefined();
    expect(s.attributes['gen_ai.input.messages']).toBeUndefined(); // content capture is opt-in
    const [c] = clients(1);
    expect(clients(1)).toHaveLength(1);
    expect(c).toMatchObject({ name: 'chat claude-upstream-1', parentSpanId: s.spanId, traceId: traceIdOf(1) });
    expect(c.attributes).toMatchObject({
      'gen_ai.request.model': 'claude-upstream-1',
      'gen_ai.provider.name': 'anthropic',
      'server.address': '127.0.0.1',
      'http.response.status_code': 200,
    });
    expect(c.startNs).toBeGreaterThanOrEqual(s.startNs);
    expect(c.endNs).toBeLessThanOrEqual(s.endNs);
    const upstream = fake.received.find((r) => String(r.body?.messages?.[0]?.content).endsWith('#1'))!;
    expect(upstream.headers.traceparent).toBe(`00-${traceIdOf(1)}-${c.spanId}-01`);
  });

  test('retries and fallbacks are sibling CLIENT spans; failures carry error.type', () => {
    const retry = clients(6);
    expect(retry.map((c) => c.attributes['http.response.status_code'])).toEqual([529, 200]);
    expect(retry.every((c) => c.parentSpanId === server(6).spanId)).toBe(true);
    expect(retry[0].attributes['error.type']).toBe('overloaded_error');
    expect(retry[0].status.code).toBe(2);
    expect(retry[1].attributes['error.type']).toBeUndefined();
    const fb = clients(7);
    expect(fb.map((c) => c.name)).toEqual(['chat up-primary', 'chat up-backup']);
    expect(server(7).attributes['switchyard.fallbacks']).toBe(1);
    expect(server(5).attributes['error.type']).toBe('api_error');
    expect(server(5).status.code).toBe(2);
    expect(server(4).attributes['error.type']).toBe('rate_limit_error');
    expect(server(4).status.code ?? 0).toBe(0); // a 4xx is the client's problem, not the server span's
    expect(server(3)).toMatchObject({
      name: 'POST /v1/messages',
      attributes: expect.objectContaining({ 'error.type': 'authentication_error', 'switchyard.api_key': 'unauthenticated' }),
    });
    expect(server(10).name).toBe('chat');
    expect(server(10).attributes['error.type']).toBe('not_found_error');
  });

  test('streams: first-token event, CLIENT span lasting the whole stream, abort marked', () => {
    const s = server(8);
    expect(s.events.map((e) => e.name)).toContain('gen_ai.first_token');
    expect(s.attributes['gen_ai.usage.output_tokens']).toBe(6);
    const [c] = clients(8);
    expect(c.attributes['gen_ai.usage.output_tokens']).toBeUndefined(); // counted once, on the SERVER span
    const ttftNs = BigInt(Math.round(Number(s.events.find((e) => e.name === 'gen_ai.first_token')!.attributes['gen_ai.server.time_to_first_token']) * 1e9));
    expect(c.endNs - s.startNs).toBeGreaterThanOrEqual(ttftNs);
    const aborted = server(9);
    expect(aborted.attributes).toMatchObject({ 'switchyard.client_aborted': true, 'error.type': 'cancelled' });
  });

  test('no key, upstream secret, exporter header or prompt text in metrics, spans or logs', () => {
    expect(otlp.requests.length).toBeGreaterThan(0);
    expect(otlp.requests.every((r) => r.headers.authorization === `Bearer ${OTLP_SECRET}`)).toBe(true);
    const bodies = otlp.requests.map((r) => r.raw.toString('utf8')).join('\n');
    const everything = [after.text, accessLines.join('\n'), opLog.join('\n'), bodies].join('\n');
    for (const secret of [CLIENT_KEY, UPSTREAM_KEY, WRONG_KEY, OTLP_SECRET, 'admin-token', PROMPT]) {
      expect(everything).not.toContain(secret);
    }
    expect(bodies).toContain(traceIdOf(1)); // the search did look at real span data
  });
});

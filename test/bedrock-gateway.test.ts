import Anthropic from '@anthropic-ai/sdk';
import type { ServerResponse } from 'node:http';
import type { Gateway } from '../gateway/src/gateway';
import { createLogger } from '../gateway/src/log';
import { installTelemetry } from '../gateway/src/telemetry';
import { chunkFrame, exceptionFrame, streamEvents } from './helpers/bedrock-frames';
import { toolStream } from './helpers/fake-anthropic';
import { awsError, defaultReply, eventStream, startFakeBedrock, type FakeBedrock, type RecordedRequest } from './helpers/fake-bedrock';
import { CLIENT_KEY, adminURL, apiKey, baseURL, modelRoute, secret, snapshotOf, startGateway } from './helpers/gateway';
import { grammarViolations } from './helpers/grammar';
import { waitFor } from './helpers/http-server';
import { scrape } from './helpers/prom';
import { parseSse } from './helpers/sse-client';

/**
 * The bedrock provider end to end: the official SDK and plain HTTP against the gateway, a fake
 * Bedrock behind it that recomputes the SigV4 signature of every request from the known secret and
 * refuses what Bedrock refuses (unknown betas, fields it does not take, a Messages-shaped body).
 */
const REGION = 'us-east-1';
const MODEL = 'us.anthropic.claude-sonnet-4-5-20250929-v1:0';
// Shaped like real AWS keys, so the generic key shapes of the redaction policy do not hide a leak.
const KEYS = { AWS_ACCESS_KEY_ID: 'AKIAGATEWAYTEST00042', AWS_SECRET_ACCESS_KEY: 'gwTestSecretKey0000000000000000000000Qz9w' };
const BEDROCK_API_KEY = 'ABSKQmVkcm9ja0FQSUtleS1nYXRld2F5LXRlc3Q9';
const ROLE = 'arn:aws:sts::123456789012:assumed-role/switchyard-bedrock/gateway-pod';

type Reply = (rec: RecordedRequest, res: ServerResponse) => void | Promise<void>;

describe('bedrock provider through the gateway', () => {
  let fake: FakeBedrock;
  let gw: Gateway;
  let client: Anthropic;
  let reply: Reply | undefined;
  const lines: any[] = [];
  const logged: string[] = [];

  const target = (over: Record<string, unknown> = {}) => ({
    provider: 'bedrock',
    model: MODEL,
    region: REGION,
    baseURL: fake.url,
    credentialsRef: { name: 'aws' },
    ...over,
  });

  beforeAll(async () => {
    fake = await startFakeBedrock({
      region: REGION,
      keys: { [KEYS.AWS_ACCESS_KEY_ID]: KEYS.AWS_SECRET_ACCESS_KEY },
      apiKey: BEDROCK_API_KEY,
      reply: (rec, res) => (reply ? reply(rec, res) : defaultReply(rec, res)),
    });
    gw = await startGateway(
      snapshotOf([
        secret('aws', KEYS),
        secret('bedrock-api-key', { apiKey: BEDROCK_API_KEY }),
        secret('client', { key: CLIENT_KEY }),
        modelRoute('bedrock', {
          model: 'claude-test',
          targets: [target()],
          retry: { attempts: 1, on: ['5xx'] },
          pricing: { inputPerMTok: 3, outputPerMTok: 15, cacheReadPerMTok: 0.3, cacheWritePerMTok: 3.75 },
        }),
        modelRoute('bedrock-retry', { model: 'claude-retry', targets: [target()], retry: { attempts: 2, on: ['429', '5xx'] } }),
        modelRoute('bedrock-api-key', { model: 'claude-api-key', targets: [target({ credentialsRef: { name: 'bedrock-api-key' } })] }),
        modelRoute('bedrock-no-drop', { model: 'claude-no-drop', targets: [target({ options: { dropFields: [] } })] }),
        modelRoute('bedrock-own-lists', {
          model: 'claude-own-lists',
          targets: [target({ options: { betas: ['context-1m-*'], dropFields: ['tools[].eager_input_streaming', 'metadata'] } })],
        }),
        apiKey('team-a', { secretRef: { name: 'client' } }),
      ]),
      { log: createLogger('gateway', 'debug', (l) => logged.push(l)) },
    );
    installTelemetry(gw, {}, { accessLogSink: (l) => void lines.push(JSON.parse(l)) });
    client = new Anthropic({ baseURL: baseURL(gw), apiKey: CLIENT_KEY, maxRetries: 0 });
  });
  afterEach(() => (reply = undefined));
  afterAll(async () => {
    await gw.close();
    await fake.close();
  });

  const logLine = (requestId: string | null) => waitFor(() => lines.find((l) => l.request_id === requestId), 10_000, 'access log line');
  const post = (body: Record<string, unknown>, headers: Record<string, string> = {}) =>
    fetch(`${baseURL(gw)}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': CLIENT_KEY, 'anthropic-version': '2023-06-01', ...headers },
      body: JSON.stringify({ model: 'claude-test', max_tokens: 50, messages: [{ role: 'user', content: 'Hi' }], ...body }),
    });

  test('messages.create: a signed InvokeModel with the Bedrock body; the Message comes back as Bedrock sent it', async () => {
    const msg = await client.messages.create({ model: 'claude-test', max_tokens: 100, messages: [{ role: 'user', content: 'Hi' }] });
    expect(msg).toMatchObject({ id: 'msg_bdrk_01', type: 'message', content: [{ type: 'text', text: 'Hello from Bedrock' }] });
    const up = fake.requests.at(-1)!;
    expect(up).toMatchObject({ auth: 'sigv4', accessKeyId: KEYS.AWS_ACCESS_KEY_ID, path: `/model/${MODEL}/invoke` });
    expect(up.json).toEqual({ anthropic_version: 'bedrock-2023-05-31', max_tokens: 100, messages: [{ role: 'user', content: 'Hi' }] });
    expect(up.headers['x-api-key']).toBeUndefined();
    expect(JSON.stringify(up.headers)).not.toContain(CLIENT_KEY);
  });

  test('messages.stream(): event-stream frames become the Anthropic SSE grammar; invocation metrics stripped and used for usage', async () => {
    const res = await post({ stream: true });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const text = await res.text();
    expect(text).not.toContain('amazon-bedrock-invocationMetrics');
    const events = parseSse(text).filter((e) => e.event !== 'ping');
    expect(grammarViolations(events)).toEqual([]);
    expect(events.map((e) => e.event)).toEqual([
      'message_start',
      'content_block_start',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    expect(events[5].data).toEqual({ type: 'message_stop' });
    expect(fake.requests.at(-1)!.path).toBe(`/model/${MODEL}/invoke-with-response-stream`);
    // message_start carried input tokens only; the cache counts came from the invocation metrics.
    expect(events[4].data.usage).toEqual({ output_tokens: 5, cache_read_input_tokens: 7, cache_creation_input_tokens: 3 });
    const line = await logLine(res.headers.get('request-id'));
    expect(line).toMatchObject({
      provider: 'bedrock',
      status: 200,
      stream: true,
      input_tokens: 12,
      output_tokens: 5,
      cache_read_input_tokens: 7,
      cache_creation_input_tokens: 3,
    });
    // Priced with the cache counts the metrics supplied: 12×3 + 5×15 + 7×0.3 + 3×3.75 per million.
    expect(line.cost_usd).toBeCloseTo((12 * 3 + 5 * 15 + 7 * 0.3 + 3 * 3.75) / 1e6, 10);
    const metrics = await scrape(adminURL(gw));
    expect(metrics.sum('switchyard_tokens_total', { type: 'cache_read' })).toBeGreaterThanOrEqual(7);
    // OpenTelemetry's well-known provider name for Bedrock.
    expect(metrics.sum('gen_ai_client_token_usage_sum', { gen_ai_provider_name: 'aws.bedrock', gen_ai_token_type: 'output' })).toBeGreaterThanOrEqual(5);
  });

  test('usage the events already report is kept, not overwritten by the metrics', async () => {
    const evs = streamEvents('Hi');
    (evs[0] as any).message.usage = { input_tokens: 20, output_tokens: 1, cache_read_input_tokens: 2, cache_creation_input_tokens: 0 };
    (evs[4] as any).usage = { output_tokens: 9 };
    reply = (_rec, res) => eventStream(res, evs);
    const res = await post({ stream: true });
    const events = parseSse(await res.text());
    expect(events.find((e) => e.event === 'message_delta')!.data.usage).toEqual({ output_tokens: 9 });
    expect(await logLine(res.headers.get('request-id'))).toMatchObject({
      input_tokens: 20,
      output_tokens: 9,
      cache_read_input_tokens: 2,
      cache_creation_input_tokens: 0,
    });
  });

  test('tools round trip with the SDK: a streamed tool_use, then the tool_result goes back to Bedrock', async () => {
    const input = { location: 'Paris, France', unit: 'celsius' };
    reply = (rec, res) => {
      if (JSON.stringify(rec.json.messages).includes('tool_result')) return defaultReply(rec, res);
      eventStream(
        res,
        toolStream(MODEL, { id: 'toolu_bdrk_01', name: 'get_weather', input })
          .map(([, d]) => d as Record<string, unknown>)
          .filter((d) => d.type !== 'ping'),
      );
    };
    const tools: Anthropic.Tool[] = [
      { name: 'get_weather', description: 'weather', input_schema: { type: 'object', properties: { location: { type: 'string' } } } },
    ];
    const first = await client.messages
      .stream({ model: 'claude-test', max_tokens: 100, tools, messages: [{ role: 'user', content: 'Weather in Paris?' }] })
      .finalMessage();
    expect(first.stop_reason).toBe('tool_use');
    const toolUse = first.content.find((b) => b.type === 'tool_use')!;
    expect(toolUse).toEqual({ type: 'tool_use', id: 'toolu_bdrk_01', name: 'get_weather', input });
    const second = await client.messages.create({
      model: 'claude-test',
      max_tokens: 100,
      tools,
      messages: [
        { role: 'user', content: 'Weather in Paris?' },
        { role: 'assistant', content: first.content },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_bdrk_01', content: '18°C and sunny' }] },
      ],
    });
    expect(second.content[0]).toMatchObject({ type: 'text', text: 'Hello from Bedrock' });
    const sent = fake.requests.at(-1)!.json;
    expect(sent.messages[1].content.find((b: any) => b.type === 'tool_use')).toEqual({ type: 'tool_use', id: 'toolu_bdrk_01', name: 'get_weather', input });
    expect(sent.messages[2].content[0]).toEqual({ type: 'tool_result', tool_use_id: 'toolu_bdrk_01', content: '18°C and sunny' });
  });

  test('countTokens: count-tokens on the base model id (no cross-region prefix), the InvokeModel body wrapped in base64', async () => {
    const r = await client.messages.countTokens({ model: 'claude-test', messages: [{ role: 'user', content: 'Count me' }] });
    const up = fake.requests.at(-1)!;
    expect(up.path).toBe('/model/anthropic.claude-sonnet-4-5-20250929-v1:0/count-tokens');
    const inner = JSON.parse(Buffer.from(up.json.input.invokeModel.body, 'base64').toString('utf8'));
    expect(inner).toMatchObject({ anthropic_version: 'bedrock-2023-05-31', messages: [{ role: 'user', content: 'Count me' }] });
    expect(r.input_tokens).toBe(JSON.stringify(inner.messages).length);
  });

  test.each([
    ['ThrottlingException', 429, 429, 'rate_limit_error', 'Too many requests, please wait before trying again.', Anthropic.RateLimitError],
    ['ServiceUnavailableException', 503, 529, 'overloaded_error', 'Bedrock is unable to process your request.', Anthropic.InternalServerError],
    ['ValidationException', 400, 400, 'invalid_request_error', 'messages.0.content: Field required', Anthropic.BadRequestError],
    ['AccessDeniedException', 403, 403, 'permission_error', `User: ${ROLE} is not authorized to perform: bedrock:InvokeModel`, Anthropic.PermissionDeniedError],
    ['ResourceNotFoundException', 404, 404, 'not_found_error', 'Could not resolve the foundation model.', Anthropic.NotFoundError],
    ['ModelTimeoutException', 408, 504, 'timeout_error', 'Model has timed out in processing the request.', Anthropic.InternalServerError],
    ['InternalServerException', 500, 500, 'api_error', 'Internal server error', Anthropic.InternalServerError],
  ])("%s (HTTP %i) → %i %s, AWS's message kept, the SDK's error class", async (name, http, status, type, message, cls) => {
    reply = (_rec, res) => awsError(res, http, name, message);
    const err = await client.messages.create({ model: 'claude-test', max_tokens: 10, messages: [{ role: 'user', content: 'Hi' }] }).catch((e) => e);
    expect(err).toBeInstanceOf(cls);
    expect(err.status).toBe(status);
    expect(err.error.error.type).toBe(type);
    expect(err.error.error.message).toContain(`Bedrock ${name}: ${message}`);
    expect(err.requestID).toMatch(/^req_/);
    if (name === 'AccessDeniedException') {
      expect(err.error.error.message).toContain('assumed-role/switchyard-bedrock');
      expect(err.error.error.message).toContain(`(model ${MODEL})`);
    }
  });

  test('throttling is a retryable 429: the route retries and the second try answers', async () => {
    let n = 0;
    reply = (rec, res) => (++n === 1 ? awsError(res, 429, 'ThrottlingException', 'Too many requests') : defaultReply(rec, res));
    const res = await post({ model: 'claude-retry' });
    expect(res.status).toBe(200);
    expect(n).toBe(2);
    expect((await logLine(res.headers.get('request-id'))).attempts).toEqual([
      expect.objectContaining({ status: 429, error_type: 'rate_limit_error' }),
      expect.objectContaining({ status: 200, outcome: 'ok' }),
    ]);
  });

  test('an exception frame mid-stream ends the stream with the mapped error event', async () => {
    reply = (_rec, res) =>
      eventStream(res, streamEvents().slice(0, 3), exceptionFrame('throttlingException', 'Too many tokens, please wait before trying again.'));
    const res = await post({ stream: true });
    expect(res.status).toBe(200);
    const events = parseSse(await res.text()).filter((e) => e.event !== 'ping');
    expect(events.map((e) => e.event)).toEqual(['message_start', 'content_block_start', 'content_block_delta', 'error']);
    expect(events[3].data).toEqual({
      type: 'error',
      error: { type: 'rate_limit_error', message: 'Bedrock throttlingException: Too many tokens, please wait before trying again.' },
      request_id: res.headers.get('request-id'),
    });
    expect(await logLine(res.headers.get('request-id'))).toMatchObject({ status: 200, error_type: 'rate_limit_error' });
  });

  test('a stream cut inside a frame ends with an error event, never silently', async () => {
    reply = (_rec, res) => {
      res.writeHead(200, { 'content-type': 'application/vnd.amazon.eventstream' });
      const next = chunkFrame(streamEvents()[1]);
      res.end(Buffer.concat([chunkFrame(streamEvents()[0]), next.subarray(0, next.length - 7)]));
    };
    const events = parseSse(await (await post({ stream: true })).text()).filter((e) => e.event !== 'ping');
    expect(events.map((e) => e.event)).toEqual(['message_start', 'error']);
    expect(events[1].data.error).toMatchObject({ type: 'api_error', message: expect.stringContaining('ended inside a frame') });
  });

  test('a stream that ends on a frame boundary before message_stop ends with an error event', async () => {
    reply = (_rec, res) => eventStream(res, streamEvents().slice(0, 5));
    const events = parseSse(await (await post({ stream: true })).text()).filter((e) => e.event !== 'ping');
    expect(events.map((e) => e.event)).toEqual(['message_start', 'content_block_start', 'content_block_delta', 'content_block_stop', 'message_delta', 'error']);
  });

  test('a throttling exception as the first frame is a 429 before any byte, so the route retries it', async () => {
    let n = 0;
    reply = (rec, res) => {
      if (++n > 1) return defaultReply(rec, res);
      res.writeHead(200, { 'content-type': 'application/vnd.amazon.eventstream' });
      res.end(exceptionFrame('throttlingException', 'Too many tokens'));
    };
    const res = await post({ model: 'claude-retry', stream: true });
    expect(res.status).toBe(200);
    expect(parseSse(await res.text()).at(-1)!.event).toBe('message_stop');
    expect(n).toBe(2);
  });

  test("Claude Code's betas are filtered to Bedrock's (the fake refuses the others), moved into the body", async () => {
    const betas =
      'claude-code-20250219,oauth-2025-04-20,interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14,prompt-caching-scope-2026-01-05';
    const res = await post({}, { 'anthropic-beta': betas });
    expect(res.status).toBe(200);
    const up = fake.requests.at(-1)!;
    expect(up.json.anthropic_beta).toEqual(['interleaved-thinking-2025-05-14', 'fine-grained-tool-streaming-2025-05-14']);
    expect(up.headers['anthropic-beta']).toBeUndefined();
    // A route's own list replaces the default: here only context-1m-* goes through.
    expect((await post({ model: 'claude-own-lists' }, { 'anthropic-beta': `${betas},context-1m-2025-08-07` })).status).toBe(200);
    expect(fake.requests.at(-1)!.json.anthropic_beta).toEqual(['context-1m-2025-08-07']);
  });

  test('the fake refuses an unknown beta like Bedrock, so the filter above is what keeps the client from a 400', async () => {
    const res = await post({ model: 'claude-own-lists' }, { 'anthropic-beta': 'context-1m-not-a-bedrock-beta' });
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).error.message).toBe('Bedrock ValidationException: invalid beta flag: context-1m-not-a-bedrock-beta');
  });

  test('tools[].eager_input_streaming is stripped by default; with dropFields [] the fake refuses it as Bedrock does', async () => {
    const tools = [{ name: 't', description: 'd', input_schema: { type: 'object' }, eager_input_streaming: true }];
    expect((await post({ tools })).status).toBe(200);
    expect(fake.requests.at(-1)!.json.tools).toEqual([{ name: 't', description: 'd', input_schema: { type: 'object' } }]);
    const refused = await post({ model: 'claude-no-drop', tools });
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as any).error).toEqual({
      type: 'invalid_request_error',
      message: 'Bedrock ValidationException: tools.0.custom.eager_input_streaming: Extra inputs are not permitted',
    });
    // A route's own list: `metadata` stripped too.
    expect((await post({ model: 'claude-own-lists', tools, metadata: { user_id: 'u1' } })).status).toBe(200);
    expect(fake.requests.at(-1)!.json).not.toHaveProperty('metadata');
    expect(fake.requests.at(-1)!.json.tools[0]).not.toHaveProperty('eager_input_streaming');
  });

  test('thinking, images and PDFs pass through unchanged', async () => {
    const content = [
      { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
      { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: 'JVBERi0xLjQK' } },
      { type: 'text', text: 'Describe both' },
    ];
    const thinking = { type: 'enabled', budget_tokens: 1024 };
    expect((await post({ max_tokens: 2000, thinking, messages: [{ role: 'user', content }] })).status).toBe(200);
    expect(fake.requests.at(-1)!.json).toMatchObject({ thinking, messages: [{ role: 'user', content }] });
  });

  test('a Bedrock API key goes as Bearer, unsigned', async () => {
    const res = await post({ model: 'claude-api-key' });
    expect(res.status).toBe(200);
    const up = fake.requests.at(-1)!;
    expect(up.auth).toBe('bearer');
    expect(up.headers['x-amz-date']).toBeUndefined();
  });

  test('a 200 that is not a Message is a 502, not a success', async () => {
    reply = (_rec, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"status":"ok"}');
    };
    const res = await post({});
    expect(res.status).toBe(502);
    expect(((await res.json()) as any).error.type).toBe('api_error');
  });

  test('no secret anywhere: responses, access log, gateway log and metrics (an error echoing the keys included)', async () => {
    reply = (_rec, res) =>
      awsError(res, 403, 'AccessDeniedException', `denied for ${KEYS.AWS_ACCESS_KEY_ID} / ${KEYS.AWS_SECRET_ACCESS_KEY} / Bearer ${BEDROCK_API_KEY}`);
    const res = await post({});
    const text = await res.text();
    expect(res.status).toBe(403);
    await logLine(res.headers.get('request-id'));
    const metrics = (await scrape(adminURL(gw))).text;
    const everything = [text, ...res.headers.values(), JSON.stringify(lines), logged.join('\n'), metrics].join('\n');
    for (const s of [KEYS.AWS_ACCESS_KEY_ID, KEYS.AWS_SECRET_ACCESS_KEY, BEDROCK_API_KEY]) expect(everything).not.toContain(s);
  });
});

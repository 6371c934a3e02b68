import Anthropic from '@anthropic-ai/sdk';
import type { Gateway } from '../gateway/src/gateway';
import { installTelemetry } from '../gateway/src/telemetry';
import { toolStream } from './helpers/fake-anthropic';
import { startFakeGoogleOAuth, serviceAccountKey, type FakeGoogleOAuth } from './helpers/fake-google-oauth';
import { startFakeVertex, type FakeVertex } from './helpers/fake-vertex';
import { CLIENT_KEY, adminURL, apiKey, baseURL, modelRoute, secret, snapshotOf, startGateway } from './helpers/gateway';
import { grammarViolations } from './helpers/grammar';
import { waitFor } from './helpers/http-server';
import { scrape } from './helpers/prom';
import { parseSse } from './helpers/sse-client';

/**
 * The official SDK through the gateway to a fake Vertex AI, authenticated with a service-account
 * key whose token exchange goes to a fake Google OAuth endpoint (the key's own `token_uri`):
 * Claude (rawPredict, streamRawPredict, count-tokens) and Gemini on Vertex.
 */
const PROJECT = 'switchyard-proj';
const REGION = 'us-east5';
const CLAUDE = 'claude-sonnet-4-5@20250929';
const weatherTool = {
  name: 'get_weather',
  description: 'Current weather',
  input_schema: { type: 'object' as const, properties: { location: { type: 'string' } }, required: ['location'] },
};

describe('Vertex AI targets through the gateway with the official SDK', () => {
  let vertex: FakeVertex;
  let oauth: FakeGoogleOAuth;
  let rotating: FakeGoogleOAuth;
  let gw: Gateway;
  let client: Anthropic;
  const key = serviceAccountKey(PROJECT);
  const rotatingKey = serviceAccountKey(PROJECT, `rotating@${PROJECT}.iam.gserviceaccount.com`);
  const wrongKey = serviceAccountKey(PROJECT);
  let issued = 0;
  const lines: Array<Record<string, any>> = [];
  const bodies: string[] = [];

  beforeAll(async () => {
    vertex = await startFakeVertex({ tokens: ['ya29.sa-token-0001'], project: PROJECT, region: REGION });
    oauth = await startFakeGoogleOAuth({ publicKeyPem: key.publicKeyPem, clientEmail: key.clientEmail, token: 'ya29.sa-token-0001' });
    // Tokens valid for 60 s: inside google-auth-library's 5-minute refresh margin, so each request fetches the next one.
    rotating = await startFakeGoogleOAuth({
      publicKeyPem: rotatingKey.publicKeyPem,
      clientEmail: rotatingKey.clientEmail,
      token: () => {
        const t = `ya29.rotated-${++issued}-abcdef`;
        vertex.tokens.push(t);
        return t;
      },
      expiresIn: 60,
    });
    const target = (model: string, extra: any = {}) => ({
      provider: 'vertex',
      model,
      region: REGION,
      project: PROJECT,
      baseURL: `${vertex.url}/v1`,
      credentialsRef: { name: 'gcp' },
      ...extra,
    });
    const once = { attempts: 1 };
    gw = await startGateway(
      snapshotOf([
        secret('gcp', { 'service-account.json': key.json(`${oauth.url}/token`) }),
        secret('gcp-rotating', { 'service-account.json': rotatingKey.json(`${rotating.url}/token`) }),
        // The right client email, a key the token endpoint cannot verify.
        secret('gcp-wrong', { 'service-account.json': wrongKey.json(`${oauth.url}/token`).replace(wrongKey.clientEmail, key.clientEmail) }),
        secret('client', { key: CLIENT_KEY }),
        modelRoute('claude', { model: 'vertex-claude', targets: [target(CLAUDE)], retry: once }),
        modelRoute('claude-retry', { model: 'vertex-retry', targets: [target(CLAUDE)], retry: { attempts: 2, on: ['429', '5xx'] } }),
        modelRoute('claude-betas', { model: 'vertex-betas', targets: [target(CLAUDE, { options: { betas: ['compact-2026-*'] } })], retry: once }),
        modelRoute('claude-all-betas', { model: 'vertex-all-betas', targets: [target(CLAUDE, { options: { betas: ['*'] } })], retry: once }),
        modelRoute('claude-drop', { model: 'vertex-drop', targets: [target(CLAUDE, { options: { dropFields: ['output_format'] } })], retry: once }),
        modelRoute('rotating', { model: 'vertex-rotating', targets: [target(CLAUDE, { credentialsRef: { name: 'gcp-rotating' } })], retry: once }),
        modelRoute('wrong', { model: 'vertex-wrong', targets: [target(CLAUDE, { credentialsRef: { name: 'gcp-wrong' } })], retry: once }),
        modelRoute('gemini', { model: 'vertex-gemini', targets: [target('gemini-2.5-pro')], retry: once }),
        // A credential failure is a 5xx like any other: the route falls back to its next target.
        modelRoute('fallback', {
          model: 'vertex-fallback',
          targets: [target(CLAUDE, { credentialsRef: { name: 'gcp-wrong' } }), target('gemini-2.5-pro', { priority: 1 })],
          retry: once,
        }),
        apiKey('team', { secretRef: { name: 'client' } }),
      ]),
    );
    installTelemetry(gw, {}, { accessLogSink: (l) => void lines.push(JSON.parse(l)) });
    const keep = async (url: any, init: any) => {
      const res = await fetch(url, init);
      const copy = res.clone();
      bodies.push(await copy.text());
      return res;
    };
    client = new Anthropic({ baseURL: baseURL(gw), apiKey: CLIENT_KEY, maxRetries: 0, fetch: keep });
  });
  afterAll(async () => {
    await gw.close();
    await Promise.all([vertex.close(), oauth.close(), rotating.close()]);
  });

  const ask = (model: string, extra: any = {}) => ({ model, max_tokens: 100, messages: [{ role: 'user' as const, content: 'Hi' }], ...extra });

  test('messages.create: rawPredict on the project/region path, bearer from the key, no model in the body, no client key upstream', async () => {
    const msg = await client.messages.create(ask('vertex-claude'));
    expect(msg).toMatchObject({ id: 'msg_vrtx_01', content: [{ type: 'text', text: 'Hello from Vertex' }] });
    const call = vertex.calls.at(-1)!;
    expect(call.path).toBe(`/v1/projects/${PROJECT}/locations/${REGION}/publishers/anthropic/models/${CLAUDE}:rawPredict`);
    expect(call.headers.authorization).toBe('Bearer ya29.sa-token-0001');
    expect(call.body).toMatchObject({ anthropic_version: 'vertex-2023-10-16', max_tokens: 100 });
    expect(call.body.model).toBeUndefined();
    expect(JSON.stringify(call.headers)).not.toContain(CLIENT_KEY);
    expect(oauth.grants).toEqual([{ iss: key.clientEmail, scope: 'https://www.googleapis.com/auth/cloud-platform' }]);
  });

  test('messages.stream(): the Anthropic SSE relayed in grammar; usage reaches the access log; the token is cached', async () => {
    const stream = client.messages.stream(ask('vertex-claude'));
    const final = await stream.finalMessage();
    expect(final.content).toEqual([{ type: 'text', text: 'Hello from Vertex' }]);
    expect(vertex.calls.at(-1)!.method).toBe('streamRawPredict');
    expect(vertex.calls.at(-1)!.body.stream).toBe(true);
    expect(grammarViolations(parseSse(bodies.at(-1)!))).toEqual([]);
    const id = stream.request_id ?? (await stream.withResponse()).response.headers.get('request-id');
    const line = await waitFor(() => lines.find((l) => l.request_id === id), 5000, 'access log line');
    expect(line).toMatchObject({ status: 200, input_tokens: 9, output_tokens: 4 });
    expect(oauth.grants).toHaveLength(1);
  });

  test('a tool-use round trip: tool_use streamed back, the tool_result forwarded to Vertex', async () => {
    const input = { location: 'Paris' };
    vertex.queue.push({ publisher: 'anthropic', script: { kind: 'stream', events: toolStream(CLAUDE, { id: 'toolu_vrtx_1', name: 'get_weather', input }) } });
    const first = await client.messages
      .stream(ask('vertex-claude', { tools: [weatherTool], messages: [{ role: 'user', content: 'Weather in Paris?' }] }))
      .finalMessage();
    expect(first.stop_reason).toBe('tool_use');
    const use = first.content.find((b) => b.type === 'tool_use')!;
    expect(use).toMatchObject({ id: 'toolu_vrtx_1', name: 'get_weather', input });
    const second = await client.messages.create(
      ask('vertex-claude', {
        tools: [weatherTool],
        messages: [
          { role: 'user', content: 'Weather in Paris?' },
          { role: 'assistant', content: first.content },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_vrtx_1', content: '18°C, sunny' }] },
        ],
      }),
    );
    expect(second.content[0]).toMatchObject({ type: 'text' });
    const sent = vertex.calls.at(-1)!.body.messages;
    expect(sent[2].content[0]).toEqual({ type: 'tool_result', tool_use_id: 'toolu_vrtx_1', content: '18°C, sunny' });
  });

  test('countTokens: count-tokens:rawPredict with the model in the body and no beta header', async () => {
    const r = await client.messages.countTokens(
      { model: 'vertex-claude', messages: [{ role: 'user', content: 'Hi' }] },
      { headers: { 'anthropic-beta': 'context-1m-2025-08-07,web-search-2025-03-05' } },
    );
    const call = vertex.calls.at(-1)!;
    expect(call.path).toMatch(/\/publishers\/anthropic\/models\/count-tokens:rawPredict$/);
    expect(call.body.model).toBe(CLAUDE);
    expect(call.headers['anthropic-beta']).toBeUndefined();
    expect(r.input_tokens).toBe(JSON.stringify(call.body.messages).length);
  });

  test("betas: only those Vertex knows are forwarded by default (Claude Code's list would be refused whole)", async () => {
    const sent = 'claude-code-20250219,interleaved-thinking-2025-05-14,prompt-caching-scope-2026-01-05,effort-2025-11-24,context-1m-2025-08-07';
    const msg = await client.messages.create(ask('vertex-claude'), { headers: { 'anthropic-beta': sent } });
    expect(msg.type).toBe('message');
    expect(vertex.calls.at(-1)!.headers['anthropic-beta']).toBe('interleaved-thinking-2025-05-14,context-1m-2025-08-07');

    // A target's own list replaces the default; '*' forwards everything, which Vertex refuses.
    await client.messages.create(ask('vertex-betas'), { headers: { 'anthropic-beta': `${sent},compact-2026-01-12` } });
    expect(vertex.calls.at(-1)!.headers['anthropic-beta']).toBe('compact-2026-01-12');
    const err = await client.messages.create(ask('vertex-all-betas'), { headers: { 'anthropic-beta': sent } }).catch((e) => e);
    expect(err).toBeInstanceOf(Anthropic.BadRequestError);
    expect(err.error.error.message).toMatch(/^Unexpected value\(s\) `claude-code-20250219`, `prompt-caching-scope-2026-01-05`, `effort-2025-11-24`/);
  });

  test('dropFields: cache_control.scope stripped by default; a target list strips what it names', async () => {
    const system = [{ type: 'text' as const, text: 'Be brief.', cache_control: { type: 'ephemeral' as const, scope: 'global' } }];
    const msg = await client.messages.create(ask('vertex-claude', { system }) as any);
    expect(msg.type).toBe('message');
    expect(vertex.calls.at(-1)!.body.system).toEqual([{ type: 'text', text: 'Be brief.', cache_control: { type: 'ephemeral' } }]);

    const withFormat = ask('vertex-drop', { output_format: { type: 'json_schema', schema: { type: 'object' } } });
    expect((await client.messages.create(withFormat as any)).type).toBe('message');
    expect(vertex.calls.at(-1)!.body.output_format).toBeUndefined();
    // Not in the default list (dropping it would change the answer): Vertex's own 400 reaches the client.
    const err = await client.messages.create({ ...withFormat, model: 'vertex-claude' } as any).catch((e) => e);
    expect(err).toBeInstanceOf(Anthropic.BadRequestError);
  });

  test("images, PDFs and thinking go through as sent; another provider's thinking blocks are dropped, as for anthropic", async () => {
    const png = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';
    const content = [
      { type: 'image', source: { type: 'base64', media_type: 'image/png', data: png } },
      { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: 'JVBERi0xLjQK' } },
      { type: 'text', text: 'Describe both.' },
    ];
    const request = { max_tokens: 2048, thinking: { type: 'enabled', budget_tokens: 1024 }, messages: [{ role: 'user', content }] };
    await client.messages.create({ model: 'vertex-claude', ...request } as any);
    const { anthropic_version, ...sent } = vertex.calls.at(-1)!.body;
    expect(anthropic_version).toBe('vertex-2023-10-16');
    expect(sent).toEqual(request);

    const foreign = { type: 'thinking', thinking: 'from Gemini', signature: 'gemini1.abc' };
    const own = { type: 'thinking', thinking: 'from Claude', signature: 'EqQBCkgIARABGAIiQ' };
    await client.messages.create(
      ask('vertex-claude', {
        messages: [
          { role: 'user', content: 'Hi' },
          { role: 'assistant', content: [foreign, own, { type: 'text', text: 'Hello' }] },
          { role: 'user', content: 'Again' },
        ],
      }),
    );
    expect(vertex.calls.at(-1)!.body.messages[1].content).toEqual([own, { type: 'text', text: 'Hello' }]);
  });

  test('a URL document source is refused with 400 before anything is sent', async () => {
    const before = vertex.calls.length;
    const err = await client.messages
      .create(
        ask('vertex-claude', { messages: [{ role: 'user', content: [{ type: 'document', source: { type: 'url', url: 'https://example.com/a.pdf' } }] }] }),
      )
      .catch((e) => e);
    expect(err).toBeInstanceOf(Anthropic.BadRequestError);
    expect(err.error.error.message).toMatch(/URL sources/);
    expect(err.requestID).toMatch(/^req_/);
    expect(vertex.calls.length).toBe(before);
  });

  const google = (code: number, status: string, message: string) =>
    ({ kind: 'raw', status: code, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ error: { code, message, status } }) }) as const;
  test.each([
    [
      'Google 403 PERMISSION_DENIED → 403 permission_error',
      google(403, 'PERMISSION_DENIED', "Permission 'aiplatform.endpoints.predict' denied"),
      403,
      'permission_error',
      Anthropic.PermissionDeniedError,
    ],
    [
      'Google 429 RESOURCE_EXHAUSTED → 429 rate_limit_error',
      google(429, 'RESOURCE_EXHAUSTED', 'Quota exceeded for aiplatform.googleapis.com/online_prediction_requests_per_base_model'),
      429,
      'rate_limit_error',
      Anthropic.RateLimitError,
    ],
    ['Google 404 NOT_FOUND → 404 not_found_error', google(404, 'NOT_FOUND', 'Publisher model not found'), 404, 'not_found_error', Anthropic.NotFoundError],
    [
      'Anthropic envelope 503 → 529 overloaded_error',
      { kind: 'error', status: 503, type: 'overloaded_error', message: 'Overloaded' } as const,
      529,
      'overloaded_error',
      Anthropic.InternalServerError,
    ],
  ])('%s', async (_name, script, status, type, cls) => {
    vertex.queue.push({ publisher: 'anthropic', script: script as any });
    const err = await client.messages.create(ask('vertex-claude')).catch((e) => e);
    expect(err).toBeInstanceOf(cls);
    expect(err.status).toBe(status);
    expect(err.error).toMatchObject({ type: 'error', error: { type }, request_id: err.requestID });
  });

  test('throttling (429 RESOURCE_EXHAUSTED) is retried', async () => {
    vertex.queue.push({ publisher: 'anthropic', script: google(429, 'RESOURCE_EXHAUSTED', 'Quota exceeded') });
    const before = vertex.calls.length;
    const msg = await client.messages.create(ask('vertex-retry'));
    expect(msg.type).toBe('message');
    expect(vertex.calls.length - before).toBe(2);
  });

  test('token refresh: a token near its expiry is replaced before use, and Vertex sees the new one', async () => {
    await client.messages.create(ask('vertex-rotating'));
    expect(vertex.calls.at(-1)!.headers.authorization).toBe('Bearer ya29.rotated-1-abcdef');
    vertex.tokens.splice(vertex.tokens.indexOf('ya29.rotated-1-abcdef'), 1); // revoked, as an expired token would be
    await client.messages.create(ask('vertex-rotating'));
    expect(vertex.calls.at(-1)!.headers.authorization).toBe('Bearer ya29.rotated-2-abcdef');
    expect(rotating.grants).toHaveLength(2);
  });

  test('a credential failure is a 502 naming the provider and the source, without the key', async () => {
    const before = vertex.calls.length;
    const err = await client.messages.create(ask('vertex-wrong')).catch((e) => e);
    expect(err).toBeInstanceOf(Anthropic.InternalServerError);
    expect(err.status).toBe(502);
    expect(err.error.error).toMatchObject({
      type: 'api_error',
      message: expect.stringMatching(/^vertex: could not obtain credentials from service-account key \(Secret\): /),
    });
    expect(vertex.calls.length).toBe(before);
  });

  test('a credential failure falls back to the next target of the route', async () => {
    const msg = await client.messages.create(ask('vertex-fallback'));
    expect(msg.content[0]).toMatchObject({ type: 'text', text: 'Hello from Gemini on Vertex' });
    expect(vertex.calls.at(-1)!.publisher).toBe('google');
  });

  test('Gemini on Vertex: the SDK streams text and a tool call, the tool result goes back as a functionResponse', async () => {
    const text = await client.messages.stream(ask('vertex-gemini')).finalMessage();
    expect(text.content).toEqual([{ type: 'text', text: 'Hello from Gemini on Vertex' }]);
    const call = vertex.calls.at(-1)!;
    expect(call.path).toBe(`/v1/projects/${PROJECT}/locations/${REGION}/publishers/google/models/gemini-2.5-pro:streamGenerateContent?alt=sse`);
    expect(call.headers.authorization).toBe('Bearer ya29.sa-token-0001');
    expect(call.headers['x-goog-api-key']).toBeUndefined();
    expect(grammarViolations(parseSse(bodies.at(-1)!))).toEqual([]);

    vertex.queue.push({
      publisher: 'google',
      script: {
        kind: 'answer',
        chunks: [
          {
            candidates: [
              { content: { role: 'model', parts: [{ functionCall: { name: 'get_weather', args: { location: 'Paris' } } }] }, finishReason: 'STOP', index: 0 },
            ],
            usageMetadata: { promptTokenCount: 20, candidatesTokenCount: 7, totalTokenCount: 27 },
            modelVersion: 'gemini-2.5-pro',
          },
        ],
      },
    });
    const first = await client.messages
      .stream(ask('vertex-gemini', { tools: [weatherTool], messages: [{ role: 'user', content: 'Weather in Paris?' }] }))
      .finalMessage();
    expect(first.stop_reason).toBe('tool_use');
    const use = first.content.find((b) => b.type === 'tool_use')!;
    expect(use).toMatchObject({ name: 'get_weather', input: { location: 'Paris' } });
    expect(grammarViolations(parseSse(bodies.at(-1)!))).toEqual([]);
    if (use.type !== 'tool_use') throw new Error('no tool_use');
    const second = await client.messages.create(
      ask('vertex-gemini', {
        tools: [weatherTool],
        messages: [
          { role: 'user', content: 'Weather in Paris?' },
          { role: 'assistant', content: first.content },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: '18°C' }] },
        ],
      }),
    );
    expect(second.content[0]).toMatchObject({ type: 'text', text: 'Hello from Gemini on Vertex' });
    const parts = vertex.calls.at(-1)!.body.contents.flatMap((c: any) => c.parts);
    expect(parts.find((p: any) => p.functionResponse)?.functionResponse).toMatchObject({ name: 'get_weather' });
    expect(vertex.calls.at(-1)!.rejected).toBeUndefined();
  });

  test("Gemini on Vertex: countTokens with the request's fields at the top level", async () => {
    const r = await client.messages.countTokens({ model: 'vertex-gemini', messages: [{ role: 'user', content: 'Hi' }] });
    expect(r.input_tokens).toBe(5);
    const call = vertex.calls.at(-1)!;
    expect(call.path).toMatch(/\/publishers\/google\/models\/gemini-2\.5-pro:countTokens$/);
    expect(call.body.contents).toEqual([{ role: 'user', parts: [{ text: 'Hi' }] }]);
  });

  test('no secret anywhere: responses, access log, metrics carry neither the key nor a token', async () => {
    const metrics = await scrape(adminURL(gw));
    const all = [bodies.join('\n'), JSON.stringify(lines), metrics.text].join('\n');
    for (const k of [key, rotatingKey, wrongKey]) {
      for (const line of k.privateKeyPem.split('\n').filter((l) => l && !l.startsWith('-----'))) expect(all).not.toContain(line);
    }
    expect(all).not.toContain('kid-0123456789abcdef');
    expect(all).not.toMatch(/ya29\./);
    expect(all).not.toContain(CLIENT_KEY);
    expect(metrics.sum('switchyard_requests_total')).toBeGreaterThan(10);
  });
});

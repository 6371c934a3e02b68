import Anthropic from '@anthropic-ai/sdk';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Gateway } from '../gateway/src/gateway';
import { startFakeAnthropic, type FakeAnthropic } from './helpers/fake-anthropic';
import { chunksOf, completionOf, startFakeOpenAI, type Answer, type FakeOpenAI } from './helpers/fake-openai';
import { CLIENT_KEY, apiKey, baseURL, modelRoute, secret, snapshotOf, startGateway } from './helpers/gateway';
import { grammarViolations } from './helpers/grammar';
import { waitFor } from './helpers/http-server';
import { postSse } from './helpers/sse-client';

/**
 * Anthropic in, OpenAI out: the official SDK against the gateway, the gateway against a fake
 * OpenAI-compatible server speaking the real wire format.
 */
const OPENAI_KEY = 'sk-proj-upstream-secret-4242';

describe('OpenAI-compatible targets through the gateway', () => {
  let fake: FakeOpenAI;
  let anthropic: FakeAnthropic;
  let gw: Gateway;
  let client: Anthropic;
  const headers = { 'x-api-key': CLIENT_KEY, 'anthropic-version': '2023-06-01' };
  const target = (over: object = {}) => ({ provider: 'openai', model: 'gpt-test', baseURL: `${fake.url}/v1`, credentialsRef: { name: 'upstream' }, ...over });

  beforeAll(async () => {
    fake = await startFakeOpenAI();
    anthropic = await startFakeAnthropic();
    gw = await startGateway(
      snapshotOf([
        secret('upstream', { apiKey: OPENAI_KEY }),
        secret('client', { key: CLIENT_KEY }),
        modelRoute('gpt', { model: 'gpt-route', aliases: ['claude-opus-4-8'], targets: [target()], retry: { attempts: 2, on: ['429', '5xx'] } }),
        modelRoute('azure', {
          model: 'azure-route',
          targets: [target({ model: 'my-deployment', baseURL: fake.url, options: { azureApiVersion: '2024-10-21' } })],
        }),
        modelRoute('mixed', {
          model: 'mixed-route',
          targets: [
            target({ priority: 0 }),
            { provider: 'anthropic', model: 'claude-fallback', baseURL: anthropic.url, credentialsRef: { name: 'upstream' }, priority: 1 },
          ],
          retry: { attempts: 1, on: ['5xx'] },
        }),
        modelRoute('clamped', { model: 'clamped-route', targets: [target({ options: { maxOutputTokens: 16384 } })] }),
        apiKey('team', { secretRef: { name: 'client' } }),
      ]),
    );
    client = new Anthropic({ baseURL: baseURL(gw), apiKey: CLIENT_KEY, maxRetries: 0 });
  });
  // A failed test must not leave scripted replies for the next one.
  beforeEach(() => {
    fake.queue.length = 0;
  });
  afterAll(async () => {
    await gw.close();
    await fake.close();
    await anthropic.close();
  });

  const ask = { model: 'gpt-route', max_tokens: 200, messages: [{ role: 'user' as const, content: 'Hi' }] };

  test('messages.create: translated request, upstream credentials, Anthropic Message back', async () => {
    fake.queue.push({
      kind: 'answer',
      answer: { content: 'Hello from GPT', usage: { prompt_tokens: 30, completion_tokens: 4, total_tokens: 34, prompt_tokens_details: { cached_tokens: 10 } } },
    });
    const msg = await client.messages.create({ ...ask, system: 'Be nice.' });
    expect(msg).toMatchObject({
      type: 'message',
      role: 'assistant',
      model: 'gpt-test',
      content: [{ type: 'text', text: 'Hello from GPT' }],
      stop_reason: 'end_turn',
    });
    expect(msg.id).toMatch(/^msg_/);
    expect(msg.usage).toMatchObject({ input_tokens: 20, output_tokens: 4, cache_read_input_tokens: 10 });
    const up = fake.last();
    expect(up.path).toBe('/v1/chat/completions');
    expect(up.headers.authorization).toBe(`Bearer ${OPENAI_KEY}`);
    expect(up.headers['x-client-request-id']).toBe(msg._request_id);
    expect(JSON.stringify(up)).not.toContain(CLIENT_KEY);
    expect(up.body).toEqual({
      model: 'gpt-test',
      messages: [
        { role: 'system', content: 'Be nice.' },
        { role: 'user', content: 'Hi' },
      ],
      n: 1,
      max_completion_tokens: 200,
    });
  });

  const answers: Array<[string, Answer]> = [
    ['text', { content: 'The quick brown fox jumps over the lazy dog.', pieces: 5 }],
    ['reasoning then text', { reasoning: 'Think about foxes first.', content: 'Foxes are quick.', reasoningField: 'reasoning' }],
    [
      'text then parallel tool calls',
      {
        content: 'Checking both.',
        tool_calls: [
          { id: 'call_paris01', name: 'get_weather', arguments: '{"city":"Paris","days":[1,2]}' },
          { id: 'chatcmpl-tool-77aa', name: 'get_time', arguments: '{"tz":"Europe/Paris"}' },
        ],
        pieces: 4,
      },
    ],
    ['max tokens mid tool call', { tool_calls: [{ id: 'call_cut', name: 'write', arguments: '{"text":"abc' }], finish_reason: 'length' }],
  ];

  test.each(answers)('stream finalMessage() equals the non-streaming response (%s); events obey the grammar', async (_name, answer) => {
    const tools = [
      { name: 'get_weather', input_schema: { type: 'object' as const, properties: { city: { type: 'string' } } } },
      { name: 'get_time', input_schema: { type: 'object' as const } },
      { name: 'write', input_schema: { type: 'object' as const } },
    ];
    fake.queue.push({ kind: 'answer', answer }, { kind: 'answer', answer }, { kind: 'answer', answer });
    const created = await client.messages.create({ ...ask, tools });
    // finalMessage() adds the SDK's own `parsed_output` (structured outputs); everything else must match.
    const { parsed_output: _parsed, ...final } = (await client.messages.stream({ ...ask, tools }).finalMessage()) as Anthropic.Message & {
      parsed_output?: unknown;
    };
    expect(final).toEqual(created);
    const raw = await postSse(`${baseURL(gw)}/v1/messages`, headers, { ...ask, tools, stream: true });
    expect(raw.status).toBe(200);
    expect(grammarViolations(raw.events)).toEqual([]);
    expect(fake.last().body).toMatchObject({ stream: true, stream_options: { include_usage: true } });
  });

  test('a multi-turn tool loop: tool_use ids come back as the upstream call ids', async () => {
    const tools = [
      { name: 'get_weather', description: 'Weather', input_schema: { type: 'object' as const, properties: { city: { type: 'string' } }, required: ['city'] } },
    ];
    const messages: Anthropic.MessageParam[] = [{ role: 'user', content: 'Weather in Paris and Oslo?' }];
    fake.queue.push({
      kind: 'answer',
      answer: {
        tool_calls: [
          { id: 'call_w1', name: 'get_weather', arguments: '{"city":"Paris"}' },
          { id: 'chatcmpl-tool-abc123', name: 'get_weather', arguments: '{"city":"Oslo"}' },
        ],
      },
    });
    const first = await client.messages.stream({ model: 'gpt-route', max_tokens: 300, tools, messages }).finalMessage();
    expect(first.stop_reason).toBe('tool_use');
    const uses = first.content.filter((b): b is Anthropic.ToolUseBlock => b.type === 'tool_use');
    expect(uses.map((u) => u.input)).toEqual([{ city: 'Paris' }, { city: 'Oslo' }]);
    messages.push({ role: 'assistant', content: first.content });
    messages.push({
      role: 'user',
      content: [
        { type: 'tool_result', tool_use_id: uses[0].id, content: '18°C, sunny' },
        { type: 'tool_result', tool_use_id: uses[1].id, content: [{ type: 'text', text: 'station offline' }], is_error: true },
        { type: 'text', text: 'Thanks!' },
      ],
    });
    fake.queue.push({ kind: 'answer', answer: { content: 'Paris is sunny; Oslo is unknown.' } });
    const second = await client.messages.create({ model: 'gpt-route', max_tokens: 300, tools, messages });
    expect(second.content).toEqual([{ type: 'text', text: 'Paris is sunny; Oslo is unknown.' }]);
    expect(fake.last().body.messages).toEqual([
      { role: 'user', content: 'Weather in Paris and Oslo?' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          { id: 'call_w1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
          { id: 'chatcmpl-tool-abc123', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'call_w1', content: '18°C, sunny' },
      { role: 'tool', tool_call_id: 'chatcmpl-tool-abc123', content: 'Error: station offline' },
      { role: 'user', content: 'Thanks!' },
    ]);
  });

  test.each([
    [400, 'invalid_request_error', Anthropic.BadRequestError, 400],
    [401, 'authentication_error', Anthropic.AuthenticationError, 401],
    [403, 'permission_error', Anthropic.PermissionDeniedError, 403],
    [404, 'not_found_error', Anthropic.NotFoundError, 404],
    [422, 'invalid_request_error', Anthropic.BadRequestError, 400],
    [429, 'rate_limit_error', Anthropic.RateLimitError, 429],
    [500, 'api_error', Anthropic.InternalServerError, 500],
    [503, 'overloaded_error', Anthropic.InternalServerError, 529],
  ])('upstream %i surfaces as %s (%p, status %i)', async (status, type, cls, clientStatus) => {
    // x-should-retry: false keeps the gateway from retrying so the mapped status reaches the client.
    fake.queue.push({
      kind: 'error',
      status,
      message: `upstream says ${status}; key ${OPENAI_KEY}`,
      headers: { 'x-should-retry': 'false', 'retry-after': '7' },
    });
    const err = await client.messages.create(ask).catch((e) => e);
    expect(err).toBeInstanceOf(cls);
    expect(err.status).toBe(clientStatus);
    expect(err.error.error.type).toBe(type);
    expect(err.error.error.message).toContain(`upstream says ${status}`);
    expect(err.error.error.message).not.toContain(OPENAI_KEY);
    expect(err.requestID).toMatch(/^req_/);
    expect(err.headers.get('retry-after')).toBe('7');
  });

  test('a 429 with retry-after is retried by the gateway, then answered', async () => {
    const before = fake.received.length;
    fake.queue.push(
      { kind: 'error', status: 429, type: 'requests', code: 'rate_limit_exceeded', message: 'Rate limit reached', headers: { 'retry-after': '0' } },
      { kind: 'answer', answer: { content: 'second time lucky' } },
    );
    const msg = await client.messages.create(ask);
    expect(msg.content).toEqual([{ type: 'text', text: 'second time lucky' }]);
    expect(fake.received.length - before).toBe(2);
  });

  test('an OpenAI target failing with 5xx falls back to an Anthropic target, streaming', async () => {
    fake.queue.push({ kind: 'error', status: 500, type: 'server_error', message: 'The server had an error' });
    const final = await client.messages.stream({ ...ask, model: 'mixed-route' }).finalMessage();
    expect(final.content).toEqual([{ type: 'text', text: 'Hello, world' }]);
    expect(anthropic.last().body.model).toBe('claude-fallback');
    expect(fake.last().body.model).toBe('gpt-test');
  });

  test('a conversation carried on by the Anthropic fallback loses the OpenAI reasoning block, which Anthropic would refuse', async () => {
    fake.queue.push({
      kind: 'answer',
      answer: { reasoning: 'The user wants the date; run a tool.', tool_calls: [{ id: 'call_7', name: 'clock', arguments: '{}' }] },
    });
    const tools = [{ name: 'clock', input_schema: { type: 'object' as const, properties: {} } }];
    const turn1 = await client.messages.create({ ...ask, model: 'mixed-route', tools });
    expect(turn1.content.map((b) => b.type)).toEqual(['thinking', 'tool_use']);
    expect(turn1.content[0]).toMatchObject({ type: 'thinking', signature: '' });
    const toolUse = turn1.content[1] as Anthropic.ToolUseBlock;
    // Turn 2: the OpenAI target fails, the Anthropic one answers.
    fake.queue.push({ kind: 'error', status: 503, type: 'server_error', message: 'down' });
    const history: Anthropic.MessageParam[] = [
      ...ask.messages,
      { role: 'assistant', content: turn1.content as Anthropic.ContentBlockParam[] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: toolUse.id, content: '2026-11-27' }] },
      // An assistant turn that was nothing but foreign reasoning disappears; a real signature stays.
      { role: 'assistant', content: [{ type: 'thinking', thinking: 'more', signature: '' }] },
      { role: 'user', content: 'And the time?' },
      {
        role: 'assistant',
        content: [
          { type: 'thinking', thinking: 'from Claude', signature: 'EqQBCkYIBxgCKkA' },
          { type: 'text', text: 'Noon.' },
        ],
      },
      { role: 'user', content: 'Thanks' },
    ];
    const turn2 = await client.messages.create({ ...ask, model: 'mixed-route', tools, messages: history });
    expect(turn2.stop_reason).toBe('end_turn');
    const sent = anthropic.last().body;
    expect(sent.model).toBe('claude-fallback');
    expect(sent.messages).toEqual([
      history[0],
      { role: 'assistant', content: [{ type: 'tool_use', id: toolUse.id, name: 'clock', input: {} }] },
      history[2],
      history[4],
      history[5],
      history[6],
    ]);
    expect(sent.tools).toEqual(tools);
  });

  test('a stream cut mid-way ends with an SSE error event; the SDK raises', async () => {
    const chunks = [...chunksOf({ content: 'This answer will not finish', pieces: 4 })];
    // The pause lets the gateway relay the first chunks: a connection dying before the first
    // chunk is read is, correctly, a 502 (nothing has gone to the client yet).
    fake.queue.push({ kind: 'chunks', chunks, cutAfter: 3, delayMs: 30 });
    const raw = await postSse(`${baseURL(gw)}/v1/messages`, headers, { ...ask, stream: true });
    expect(raw.status).toBe(200);
    expect(grammarViolations(raw.events)).toEqual([]);
    expect(raw.events[raw.events.length - 1]).toMatchObject({ event: 'error', data: { type: 'error', error: { type: 'api_error' } } });
    expect(raw.events.some((e) => e.event === 'content_block_delta')).toBe(true);

    fake.queue.push({
      kind: 'chunks',
      chunks: [
        ...chunks.slice(0, 3),
        { error: { message: 'The server had an error while processing your request.', type: 'server_error', param: null, code: null } },
        '[DONE]',
      ],
    });
    const err = await client.messages
      .stream(ask)
      .finalMessage()
      .catch((e) => e);
    expect(err).toBeInstanceOf(Anthropic.APIError);
    expect(err.error).toMatchObject({ type: 'error', error: { type: 'api_error', message: 'The server had an error while processing your request.' } });
  });

  test('an upstream error before the first chunk is retried like an error status', async () => {
    const before = fake.received.length;
    fake.queue.push(
      { kind: 'chunks', chunks: [{ error: { message: 'overloaded', type: 'server_error', code: null } }, '[DONE]'] },
      { kind: 'answer', answer: { content: 'recovered' } },
    );
    const final = await client.messages.stream(ask).finalMessage();
    expect(final.content).toEqual([{ type: 'text', text: 'recovered' }]);
    expect(fake.received.length - before).toBe(2);
  });

  test('a client that goes away aborts the upstream stream', async () => {
    fake.queue.push({ kind: 'chunks', chunks: chunksOf({ content: 'slow answer' }), hangAfter: 2 });
    const before = fake.received.length;
    const stream = client.messages.stream(ask);
    const ended = stream.finalMessage().catch((e) => e);
    await new Promise<void>((resolve) => stream.on('text', () => resolve()));
    stream.abort();
    expect(await ended).toBeInstanceOf(Anthropic.APIUserAbortError);
    const rec = await waitFor(() => fake.received[before]);
    expect(await rec.closed).toEqual({ aborted: true });
  });

  test('a server that answers a stream request with JSON still gives the client a stream', async () => {
    fake.queue.push({
      kind: 'raw',
      status: 200,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(completionOf({ content: 'not streamed' })),
    });
    const raw = await postSse(`${baseURL(gw)}/v1/messages`, headers, { ...ask, stream: true });
    expect(grammarViolations(raw.events)).toEqual([]);
    fake.queue.push({
      kind: 'raw',
      status: 200,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(completionOf({ content: 'not streamed' })),
    });
    expect((await client.messages.stream(ask).finalMessage()).content).toEqual([{ type: 'text', text: 'not streamed' }]);
  });

  test('server tools are refused with a 400 before any upstream call', async () => {
    const before = fake.received.length;
    const err = await client.messages.create({ ...ask, tools: [{ type: 'web_search_20250305', name: 'web_search' }] }).catch((e) => e);
    expect(err).toBeInstanceOf(Anthropic.BadRequestError);
    expect(err.error.error.message).toContain("'web_search' (web_search_20250305) is an Anthropic-defined tool");
    expect(fake.received.length).toBe(before);
  });

  test('count_tokens is answered locally with tiktoken', async () => {
    const before = fake.received.length;
    const r = await client.messages.countTokens({ model: 'gpt-route', system: 'You are terse.', messages: [{ role: 'user', content: 'Hello world' }] });
    expect(r.input_tokens).toBe(17); // o200k: 3 priming + (3 + role 1 + 4) + (3 + role 1 + 2)
    expect(fake.received.length).toBe(before);
  });

  test('Azure OpenAI: dated deployment URL and api-key header', async () => {
    fake.queue.push({ kind: 'answer', answer: { content: 'from azure', model: 'gpt-4o-2024-11-20' } });
    const msg = await client.messages.create({ ...ask, model: 'azure-route' });
    expect(msg).toMatchObject({ model: 'gpt-4o-2024-11-20', content: [{ type: 'text', text: 'from azure' }] });
    const up = fake.last();
    expect(up.path).toBe('/openai/deployments/my-deployment/chat/completions?api-version=2024-10-21');
    expect(up.headers['api-key']).toBe(OPENAI_KEY);
    expect(up.headers.authorization).toBeUndefined();
  });

  test('a Claude Code request (shared fixture) streams through an OpenAI target', async () => {
    const cc = JSON.parse(readFileSync(path.join(__dirname, 'fixtures/claude-code-request.json'), 'utf8'));
    fake.queue.push({
      kind: 'answer',
      answer: {
        content: 'I will look at the files.',
        tool_calls: [{ id: 'call_bash1', name: 'Bash', arguments: '{"command":"ls -la","description":"List files"}' }],
        pieces: 6,
      },
    });
    const raw = await postSse(`${baseURL(gw)}${cc.path}`, { ...cc.headers, 'x-api-key': CLIENT_KEY }, cc.body);
    expect(raw.status).toBe(200);
    expect(grammarViolations(raw.events)).toEqual([]);
    const up = fake.last().body;
    expect(up.model).toBe('gpt-test');
    expect(up.tools).toHaveLength(cc.body.tools.length);
    expect(up.messages.map((m: any) => m.role)).toEqual(['system', 'user', 'system']);
    expect(up).toMatchObject({ stream: true, reasoning_effort: 'high', max_completion_tokens: cc.body.max_tokens });
    expect(up.user).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(up)).not.toMatch(/cache_control|context_management|\$schema/);
    const stop = raw.events.find((e) => e.event === 'message_delta');
    expect(stop?.data.delta.stop_reason).toBe('tool_use');

    // maxOutputTokens clamps Claude Code's 64k ask for a model with a smaller ceiling.
    fake.queue.push({ kind: 'answer', answer: { content: 'ok' } });
    const clamped = await postSse(`${baseURL(gw)}${cc.path}`, { ...cc.headers, 'x-api-key': CLIENT_KEY }, { ...cc.body, model: 'clamped-route' });
    expect(grammarViolations(clamped.events)).toEqual([]);
    expect(fake.last().body.max_completion_tokens).toBe(16384);
  });
});

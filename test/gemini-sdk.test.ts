import Anthropic from '@anthropic-ai/sdk';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Gateway } from '../gateway/src/gateway';
import { encodeToolUseId } from '../gateway/src/providers/gemini/ids';
import { startFakeGemini, textChunks, type FakeGemini, type GScript } from './helpers/fake-gemini';
import { CLIENT_KEY, UPSTREAM_KEY, apiKey, baseURL, modelRoute, secret, snapshotOf, startGateway } from './helpers/gateway';
import { grammarViolations } from './helpers/grammar';
import { waitFor } from './helpers/http-server';
import { parseSse, postSse } from './helpers/sse-client';

/**
 * The official SDK, through an in-process gateway, against a fake Gemini speaking the real wire
 * format and validating every request the way Gemini does.
 */
const fixture = (name: string) => JSON.parse(readFileSync(join(__dirname, 'fixtures/gemini', name), 'utf8'));
const claudeCode = JSON.parse(readFileSync(join(__dirname, 'fixtures/claude-code-request.json'), 'utf8'));
/** Tool ids carry a random part; `parsed_output` is added client-side by the SDK's stream helper. */
const stableIds = ({ parsed_output: _p, ...m }: any) => ({ ...m, content: m.content.map((b: any) => (b.type === 'tool_use' ? { ...b, id: 'toolu_X' } : b)) });
const weatherTool = {
  name: 'get_weather',
  description: 'Current weather',
  input_schema: {
    type: 'object' as const,
    properties: { location: { type: 'string' }, unit: { type: 'string', enum: ['celsius', 'fahrenheit'] } },
    required: ['location'],
  },
};

describe('Gemini targets through the gateway with the official SDK', () => {
  let fake: FakeGemini;
  let gw: Gateway;
  let client: Anthropic;
  /** Every SSE body the SDK client received in the current test, read in full (undefined if the client aborted it). */
  let streams: Array<Promise<string | undefined>> = [];

  beforeAll(async () => {
    fake = await startFakeGemini();
    const target = (model: string, extra: any = {}) => ({
      provider: 'gemini',
      model,
      baseURL: `${fake.url}/v1beta`,
      credentialsRef: { name: 'gemini' },
      ...extra,
    });
    const once = { attempts: 1 };
    gw = await startGateway(
      snapshotOf([
        secret('gemini', { apiKey: UPSTREAM_KEY }),
        secret('client', { key: CLIENT_KEY }),
        modelRoute('flash', { model: 'gemini-flash', targets: [target('gemini-2.5-flash')], retry: once }),
        modelRoute('pro', { model: 'gemini-pro', targets: [target('gemini-2.5-pro')], retry: once }),
        modelRoute('g3', { model: 'gemini-3', targets: [target('gemini-3-pro-preview')], retry: once }),
        modelRoute('retrying', { model: 'gemini-retry', targets: [target('gemini-2.5-flash')], retry: { attempts: 2 } }),
        modelRoute('claude-code', {
          model: claudeCode.body.model,
          targets: [target('gemini-3-pro-preview', { options: { maxOutputTokens: 65536 } })],
          retry: once,
        }),
        apiKey('team', { secretRef: { name: 'client' } }),
      ]),
    );
    // The SDK's own fetch, with each event-stream body teed so every stream it reads is grammar-checked too.
    const fetchAndKeep = async (url: any, init: any) => {
      const res = await fetch(url, init);
      if (!res.body || !(res.headers.get('content-type') ?? '').startsWith('text/event-stream')) return res;
      const [mine, copy] = res.body.tee();
      streams.push(new Response(copy).text().catch(() => undefined));
      return new Response(mine, { status: res.status, statusText: res.statusText, headers: res.headers });
    };
    client = new Anthropic({ baseURL: baseURL(gw), apiKey: CLIENT_KEY, maxRetries: 0, fetch: fetchAndKeep });
  });
  afterAll(async () => {
    await gw.close();
    await fake.close();
  });
  afterEach(async () => {
    for (const text of await Promise.all(streams)) if (text !== undefined) expect(grammarViolations(parseSse(text))).toEqual([]);
    streams = [];
    expect(fake.received.filter((r) => r.rejected).map((r) => r.rejected)).toEqual([]);
    fake.received.length = 0;
    fake.queue.length = 0;
  });

  const twice = (s: GScript) => fake.queue.push(s, structuredClone(s));
  const ask = (model: string, extra: any = {}) => ({
    model,
    max_tokens: 1024,
    messages: [{ role: 'user' as const, content: 'Weather in Paris and London?' }],
    ...extra,
  });

  test('messages.create: text answer, usage, model; upstream gets its own key in x-goog-api-key and nothing of the client', async () => {
    const msg = await client.messages.create({ ...ask('gemini-flash'), system: 'Be brief.', temperature: 0.2, stop_sequences: ['END'] });
    expect(msg).toMatchObject({
      type: 'message',
      role: 'assistant',
      model: 'gemini-2.5-flash',
      content: [{ type: 'text', text: 'Hello from Gemini' }],
      stop_reason: 'end_turn',
      stop_sequence: null,
    });
    expect(msg.id).toBe('msg_resp-text-1');
    expect(msg.usage).toMatchObject({ input_tokens: 9, output_tokens: 5, cache_read_input_tokens: 0 });
    const up = fake.last();
    expect(up.path).toBe('/v1beta/models/gemini-2.5-flash:generateContent');
    expect(up.headers['x-goog-api-key']).toBe(UPSTREAM_KEY);
    expect(up.query.has('key')).toBe(false);
    expect(JSON.stringify(up.headers)).not.toContain(CLIENT_KEY);
    expect(Object.keys(up.headers).filter((h) => h.startsWith('anthropic-') || h === 'x-api-key' || h === 'authorization')).toEqual([]);
    expect(up.body.systemInstruction).toEqual({ parts: [{ text: 'Be brief.' }] });
    expect(up.body.generationConfig).toEqual({ maxOutputTokens: 1024, temperature: 0.2, stopSequences: ['END'] });
  });

  test('messages.stream: finalMessage() equals the non-streaming answer; raw events obey the grammar', async () => {
    const script: GScript = { kind: 'answer', chunks: fixture('parallel-calls.stream.json').chunks };
    twice(script);
    fake.queue.push(structuredClone(script));
    const body = ask('gemini-flash', { tools: [weatherTool], thinking: { type: 'adaptive' } });
    const whole = await client.messages.create(body);
    const streamed = await client.messages.stream(body).finalMessage();
    expect(fake.received[1].path).toBe('/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse');
    expect(stableIds(streamed)).toEqual(stableIds(whole));
    expect(streams).toHaveLength(1); // and afterEach checks its grammar
    expect(whole.stop_reason).toBe('tool_use');
    expect(whole.content.map((b) => b.type)).toEqual(['thinking', 'text', 'tool_use', 'tool_use']);

    const raw = await postSse(`${baseURL(gw)}/v1/messages`, { 'x-api-key': CLIENT_KEY }, { ...body, stream: true });
    expect(raw.status).toBe(200);
    expect(grammarViolations(raw.events)).toEqual([]);
    expect(raw.events.filter((e) => e.event === 'content_block_start').map((e) => e.data.index)).toEqual([0, 1, 2, 3]);
  });

  test('a multi-turn tool loop on Gemini 3 keeps thought signatures across turns', async () => {
    const tools = [weatherTool];
    const messages: Anthropic.MessageParam[] = [{ role: 'user', content: 'Weather in Paris and London?' }];
    fake.queue.push({ kind: 'answer', chunks: fixture('parallel-calls.stream.json').chunks });
    const first = await client.messages.stream({ model: 'gemini-3', max_tokens: 2048, tools, thinking: { type: 'adaptive' }, messages }).finalMessage();
    const calls = first.content.filter((b): b is Anthropic.ToolUseBlock => b.type === 'tool_use');
    expect(calls.map((c) => c.input)).toEqual([
      { location: 'Paris', unit: 'celsius' },
      { location: 'London', unit: 'celsius' },
    ]);

    messages.push({ role: 'assistant', content: first.content });
    messages.push({
      role: 'user',
      content: [
        { type: 'tool_result', tool_use_id: calls[0].id, content: '18°C, sunny' },
        { type: 'tool_result', tool_use_id: calls[1].id, content: [{ type: 'text', text: 'station offline' }], is_error: true },
      ],
    });
    const answer = textChunks('Paris is 18°C; London is unknown.', { model: 'gemini-3-pro-preview', responseId: 'turn2' });
    answer.push({
      candidates: [{ content: { role: 'model', parts: [{ text: '', thoughtSignature: 'Turn2AnswerSig==' }] }, finishReason: 'STOP', index: 0 }],
      modelVersion: 'gemini-3-pro-preview',
    });
    delete answer[1].candidates[0].finishReason;
    fake.queue.push({ kind: 'answer', chunks: answer });
    const second = await client.messages.stream({ model: 'gemini-3', max_tokens: 2048, tools, thinking: { type: 'adaptive' }, messages }).finalMessage();
    expect(second.stop_reason).toBe('end_turn');
    expect(second.content.map((b) => b.type)).toEqual(['text', 'thinking']);

    const sent = fake.last().body.contents;
    expect(sent[1].parts.find((p: any) => p.functionCall).thoughtSignature).toBe('CiQBcsjafKy2ParisSigAAA=');
    expect(sent[2].parts).toEqual([
      { functionResponse: { name: 'get_weather', response: { output: '18°C, sunny' } } },
      { functionResponse: { name: 'get_weather', response: { error: 'station offline' } } },
    ]);

    messages.push({ role: 'assistant', content: second.content });
    messages.push({ role: 'user', content: 'Thanks!' });
    const third = await client.messages.create({ model: 'gemini-3', max_tokens: 2048, tools, thinking: { type: 'adaptive' }, messages });
    expect(third.content[0]).toMatchObject({ type: 'text', text: 'Hello from Gemini' });
    expect(fake.last().body.contents[3].parts).toEqual([{ text: 'Paris is 18°C; London is unknown.', thoughtSignature: 'Turn2AnswerSig==' }]);
  });

  test("a forged signature is refused by (fake) Gemini and reaches the client as a 400 with Google's message", async () => {
    const forged = encodeToolUseId({ signature: 'not-a-real-signature', model: 'gemini-3-pro-preview' });
    const err = await client.messages
      .create({
        model: 'gemini-3',
        max_tokens: 100,
        tools: [weatherTool],
        messages: [
          { role: 'user', content: 'Weather?' },
          { role: 'assistant', content: [{ type: 'tool_use', id: forged, name: 'get_weather', input: { location: 'Paris' } }] },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: forged, content: 'sunny' }] },
        ],
      })
      .catch((e) => e);
    expect(err).toBeInstanceOf(Anthropic.BadRequestError);
    expect(err.error.error).toEqual({ type: 'invalid_request_error', message: 'Corrupted thought signature.' });
    fake.received.forEach((r) => delete r.rejected); // expected here
  });

  test.each([
    [400, 'INVALID_ARGUMENT', undefined, Anthropic.BadRequestError, 400, 'invalid_request_error'],
    [
      400,
      'INVALID_ARGUMENT',
      [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'API_KEY_INVALID' }],
      Anthropic.AuthenticationError,
      401,
      'authentication_error',
    ],
    [403, 'PERMISSION_DENIED', undefined, Anthropic.PermissionDeniedError, 403, 'permission_error'],
    [404, 'NOT_FOUND', undefined, Anthropic.NotFoundError, 404, 'not_found_error'],
    [
      429,
      'RESOURCE_EXHAUSTED',
      [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '36s' }],
      Anthropic.RateLimitError,
      429,
      'rate_limit_error',
    ],
    [500, 'INTERNAL', undefined, Anthropic.InternalServerError, 500, 'api_error'],
    [503, 'UNAVAILABLE', undefined, Anthropic.InternalServerError, 529, 'overloaded_error'],
  ])('Gemini %i %s surfaces as the SDK error class', async (status, gstatus, details, cls, clientStatus, type) => {
    fake.queue.push({ kind: 'error', status, error: { message: `gemini says ${gstatus}`, status: gstatus, details } });
    const err = await client.messages.create(ask('gemini-flash')).catch((e) => e);
    expect(err).toBeInstanceOf(cls);
    expect(err.status).toBe(clientStatus);
    expect(err.error.error).toEqual({ type, message: `gemini says ${gstatus}` });
    expect(err.requestID).toMatch(/^req_/);
    if (status === 429) expect(err.headers.get('retry-after')).toBe('36');
  });

  test('a 503 is retried per spec.retry and the second answer is the one the client gets', async () => {
    fake.queue.push({ kind: 'error', status: 503, error: { message: 'The model is overloaded.', status: 'UNAVAILABLE' } });
    const msg = await client.messages.create(ask('gemini-retry'));
    expect(msg.content[0]).toMatchObject({ text: 'Hello from Gemini' });
    expect(fake.received).toHaveLength(2);
  });

  test('an error as the first stream chunk becomes an HTTP error (nothing was sent yet)', async () => {
    fake.queue.push({ kind: 'answer', chunks: [{ error: { code: 429, message: 'Resource exhausted.', status: 'RESOURCE_EXHAUSTED' } }] });
    const err = await client.messages
      .stream(ask('gemini-flash'))
      .finalMessage()
      .catch((e) => e);
    expect(err).toBeInstanceOf(Anthropic.RateLimitError);
    expect(err.error.error).toEqual({ type: 'rate_limit_error', message: 'Resource exhausted.' });
  });

  test.each([
    ['the connection drops mid-stream', { kind: 'answer', chunks: fixture('parallel-calls.stream.json').chunks, cutAfter: 2, delayMs: 20 }, 'api_error'],
    ['an error chunk arrives mid-stream', { kind: 'answer', chunks: fixture('mid-stream-error.stream.json').chunks }, 'overloaded_error'],
    ['the stream ends without finishReason', { kind: 'answer', chunks: fixture('parallel-calls.stream.json').chunks.slice(0, 3) }, 'api_error'],
  ])('when %s, the SSE stream ends with an error event', async (_what, script, type) => {
    fake.queue.push(script as GScript);
    const raw = await postSse(`${baseURL(gw)}/v1/messages`, { 'x-api-key': CLIENT_KEY }, { ...ask('gemini-flash'), stream: true });
    expect(raw.status).toBe(200);
    expect(grammarViolations(raw.events)).toEqual([]);
    const last = raw.events[raw.events.length - 1];
    expect(last.event).toBe('error');
    expect(last.data.error.type).toBe(type);
    expect(raw.events.some((e) => e.event === 'content_block_delta')).toBe(true);

    fake.queue.push(structuredClone(script) as GScript);
    const err = await client.messages
      .stream(ask('gemini-flash'))
      .finalMessage()
      .catch((e) => e);
    expect(err).toBeInstanceOf(Anthropic.APIError);
    expect(err.error?.error?.type).toBe(type);
  });

  test('CRLF framing split at any byte, and a last event without its blank line, still parse', async () => {
    const wire = fixture('parallel-calls.stream.json')
      .chunks.map((c: any) => `data: ${JSON.stringify(c)}\r\n\r\n`)
      .join('')
      .replace(/\r\n\r\n$/, '');
    // Cut between every \r and its \n, and inside every JSON line.
    const cuts = [...wire.matchAll(/\r\n/g)]
      .map((m) => m.index! + 1)
      .concat([...wire.matchAll(/data: /g)].map((m) => m.index! + 40))
      .sort((a, b) => a - b);
    const pieces = [0, ...cuts].map((from, i, all) => wire.slice(from, all[i + 1] ?? wire.length));
    expect(pieces.some((p) => p.endsWith('\r'))).toBe(true);
    fake.queue.push({ kind: 'pieces', pieces, delayMs: 1 });
    const streamed = await client.messages.stream(ask('gemini-flash', { tools: [weatherTool] })).finalMessage();
    expect(streamed.content.map((b) => b.type)).toEqual(['thinking', 'text', 'tool_use', 'tool_use']);
    expect(streamed.stop_reason).toBe('tool_use');
  });

  test('blocked prompts and safety stops are refusals, streamed or not', async () => {
    twice({ kind: 'answer', chunks: [fixture('prompt-blocked.json').response] });
    const whole = await client.messages.create(ask('gemini-flash'));
    const streamed = await client.messages.stream(ask('gemini-flash')).finalMessage();
    expect(whole).toMatchObject({ stop_reason: 'refusal', content: [] });
    expect(stableIds(streamed)).toEqual(stableIds(whole));
    fake.queue.push({ kind: 'answer', chunks: [fixture('safety-block.json').response] });
    expect((await client.messages.create(ask('gemini-flash'))).stop_reason).toBe('refusal');
  });

  test('countTokens uses :countTokens with the generateContentRequest wrapper', async () => {
    fake.queue.push({ kind: 'count', totalTokens: 321 });
    const r = await client.messages.countTokens({
      model: 'gemini-flash',
      system: 'Be brief.',
      tools: [weatherTool],
      messages: [{ role: 'user', content: 'Hi' }],
    });
    expect(r.input_tokens).toBe(321);
    const up = fake.last();
    expect(up.path).toBe('/v1beta/models/gemini-2.5-flash:countTokens');
    expect(up.body.generateContentRequest).toMatchObject({
      model: 'models/gemini-2.5-flash',
      systemInstruction: { parts: [{ text: 'Be brief.' }] },
      tools: [{ functionDeclarations: [{ name: 'get_weather' }] }],
    });
  });

  test('requests Gemini cannot take are refused by the gateway without calling it', async () => {
    const gif = await client.messages
      .create({
        ...ask('gemini-flash'),
        messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'base64', media_type: 'image/gif', data: 'R0lGODlhAQABAAAAACw=' } }] }],
      })
      .catch((e) => e);
    expect(gif).toBeInstanceOf(Anthropic.BadRequestError);
    expect(gif.error.error.message).toMatch(/Gemini does not accept image\/gif/);
    const server = await client.messages.create({ ...ask('gemini-flash'), tools: [{ type: 'web_search_20250305', name: 'web_search' }] }).catch((e) => e);
    expect(server).toBeInstanceOf(Anthropic.BadRequestError);
    expect(server.error.error.message).toMatch(/Anthropic-defined tool/);
    expect(fake.received).toHaveLength(0);
  });

  test('a Claude Code request routed to Gemini succeeds, streaming (raw, with its headers and ?beta=true)', async () => {
    const chunks = fixture('parallel-calls.stream.json').chunks;
    fake.queue.push({ kind: 'answer', chunks });
    const headers = { ...claudeCode.headers, 'x-api-key': CLIENT_KEY };
    const raw = await postSse(`${baseURL(gw)}${claudeCode.path}`, headers, claudeCode.body);
    expect(raw.status).toBe(200);
    expect(grammarViolations(raw.events)).toEqual([]);
    expect(raw.events[raw.events.length - 1].event).toBe('message_stop');
    const up = fake.last();
    expect(up.path).toBe('/v1beta/models/gemini-3-pro-preview:streamGenerateContent?alt=sse');
    expect(up.body.tools[0].functionDeclarations).toHaveLength(claudeCode.body.tools.length);
    expect(up.body.generationConfig).toMatchObject({ maxOutputTokens: 64000, thinkingConfig: { thinkingLevel: 'HIGH', includeThoughts: true } });

    fake.queue.push({ kind: 'answer', chunks });
    const final = await client.beta.messages.stream(claudeCode.body, { headers: { 'anthropic-beta': claudeCode.headers['anthropic-beta'] } }).finalMessage();
    expect(final.stop_reason).toBe('tool_use');
  });

  test('the client going away aborts the upstream request', async () => {
    const slow = textChunks('x'.repeat(40));
    slow.splice(1, 0, ...Array.from({ length: 20 }, () => ({ candidates: [{ content: { parts: [{ text: 'more ' }] } }] })));
    fake.queue.push({ kind: 'answer', chunks: slow, delayMs: 50 });
    const stream = client.messages.stream(ask('gemini-flash'));
    const ended = stream.finalMessage().catch((e) => e);
    await new Promise<void>((resolve) => stream.on('text', () => resolve()));
    stream.abort();
    expect(await ended).toBeInstanceOf(Anthropic.APIUserAbortError);
    const up = await waitFor(() => fake.received[0]);
    expect(await up.closed).toEqual({ aborted: true });
  });
});

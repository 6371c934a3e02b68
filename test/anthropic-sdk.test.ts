import Anthropic from '@anthropic-ai/sdk';
import type { Gateway } from '../gateway/src/gateway';
import { startFakeAnthropic, textStream, toolStream, type FakeAnthropic } from './helpers/fake-anthropic';
import { CLIENT_KEY, UPSTREAM_KEY, baseURL, simpleConfig, snapshotOf, startGateway } from './helpers/gateway';

/** The official SDK, unchanged but for baseURL and apiKey, against the gateway and a fake Anthropic. */
describe('official @anthropic-ai/sdk through the gateway', () => {
  let fake: FakeAnthropic;
  let gw: Gateway;
  let client: Anthropic;

  beforeAll(async () => {
    fake = await startFakeAnthropic();
    gw = await startGateway(snapshotOf(simpleConfig(fake.url)));
    client = new Anthropic({ baseURL: baseURL(gw), apiKey: CLIENT_KEY, maxRetries: 0 });
  });
  afterAll(async () => {
    await gw.close();
    await fake.close();
  });

  test('messages.create returns the upstream message; upstream sees its own key and model', async () => {
    let sent: Headers | undefined;
    const spy = new Anthropic({
      baseURL: baseURL(gw),
      apiKey: CLIENT_KEY,
      maxRetries: 0,
      fetch: async (url: any, init: any) => {
        sent = new Headers(init.headers);
        return fetch(url, init);
      },
    });
    const msg = await spy.messages.create({ model: 'claude-test', max_tokens: 100, messages: [{ role: 'user', content: 'Hi' }] });
    expect(msg.type).toBe('message');
    expect(msg.content[0]).toMatchObject({ type: 'text', text: 'Hello!' });
    expect(msg.usage.input_tokens).toBe(12);
    const up = fake.last();
    expect(up.path).toBe('/v1/messages');
    expect(up.body.model).toBe('claude-upstream-1');
    expect(up.headers['x-api-key']).toBe(UPSTREAM_KEY);
    // Whatever API version the SDK speaks goes through unchanged.
    expect(up.headers['anthropic-version']).toBe(sent!.get('anthropic-version'));
    expect(up.headers.authorization).toBeUndefined();
    expect(JSON.stringify(up.headers)).not.toContain(CLIENT_KEY);
  });

  test('aliases route to the same target', async () => {
    await client.messages.create({ model: 'test-alias', max_tokens: 10, messages: [{ role: 'user', content: 'Hi' }] });
    expect(fake.last().body.model).toBe('claude-upstream-1');
  });

  test('Authorization: Bearer works like x-api-key', async () => {
    const bearer = new Anthropic({ baseURL: baseURL(gw), authToken: CLIENT_KEY, apiKey: null, maxRetries: 0 });
    const msg = await bearer.messages.create({ model: 'claude-test', max_tokens: 10, messages: [{ role: 'user', content: 'Hi' }] });
    expect(msg.content[0].type).toBe('text');
  });

  test('messages.stream() reassembles text via finalMessage()', async () => {
    fake.queue.push({ kind: 'stream', events: textStream('claude-upstream-1', ['Hel', 'lo ', 'there']) });
    const stream = client.messages.stream({ model: 'claude-test', max_tokens: 100, messages: [{ role: 'user', content: 'Hi' }] });
    const texts: string[] = [];
    stream.on('text', (t) => texts.push(t));
    const final = await stream.finalMessage();
    expect(texts.join('')).toBe('Hello there');
    expect(final.content).toEqual([{ type: 'text', text: 'Hello there' }]);
    expect(final.stop_reason).toBe('end_turn');
    expect(final.usage.output_tokens).toBe(6);
    expect(fake.last().body.stream).toBe(true);
  });

  test('messages.stream() reassembles tool_use input from input_json_delta', async () => {
    const input = { location: 'Paris, France', unit: 'celsius', days: [1, 2, 3] };
    fake.queue.push({ kind: 'stream', events: toolStream('claude-upstream-1', { id: 'toolu_01abc', name: 'get_weather', input }) });
    const stream = client.messages.stream({
      model: 'claude-test',
      max_tokens: 100,
      tools: [{ name: 'get_weather', description: 'weather', input_schema: { type: 'object', properties: { location: { type: 'string' } } } }],
      messages: [{ role: 'user', content: 'Weather in Paris?' }],
    });
    const final = await stream.finalMessage();
    expect(final.stop_reason).toBe('tool_use');
    expect(final.content[1]).toEqual({ type: 'tool_use', id: 'toolu_01abc', name: 'get_weather', input });
    expect(final.usage.output_tokens).toBe(65);
  });

  test('countTokens is forwarded to the upstream count endpoint', async () => {
    const r = await client.messages.countTokens({ model: 'claude-test', messages: [{ role: 'user', content: 'Hi' }] });
    expect(r.input_tokens).toBe(42);
    expect(fake.last().path).toBe('/v1/messages/count_tokens');
    expect(fake.last().body.model).toBe('claude-upstream-1');
  });

  test('models.list pages through model names and aliases', async () => {
    const ids: string[] = [];
    for await (const m of client.models.list({ limit: 1 })) ids.push(m.id);
    expect(ids).toEqual(['claude-test', 'test-alias']);
    const one = await client.models.retrieve('test-alias');
    expect(one).toMatchObject({ type: 'model', id: 'test-alias' });
  });

  test.each([
    [400, 'invalid_request_error', Anthropic.BadRequestError],
    [401, 'authentication_error', Anthropic.AuthenticationError],
    [403, 'permission_error', Anthropic.PermissionDeniedError],
    [404, 'not_found_error', Anthropic.NotFoundError],
    [429, 'rate_limit_error', Anthropic.RateLimitError],
    [500, 'api_error', Anthropic.InternalServerError],
    [529, 'overloaded_error', Anthropic.InternalServerError],
  ])('upstream %i surfaces as the SDK error class with the gateway request id', async (status, type, cls) => {
    // x-should-retry: false keeps the gateway from retrying so the status reaches the client as is.
    fake.queue.push({ kind: 'error', status, type, message: `upstream says ${type}`, headers: { 'x-should-retry': 'false' } });
    const err = await client.messages.create({ model: 'claude-test', max_tokens: 10, messages: [{ role: 'user', content: 'Hi' }] }).catch((e) => e);
    expect(err).toBeInstanceOf(cls);
    expect(err.status).toBe(status);
    expect(err.error.error).toEqual({ type, message: `upstream says ${type}` });
    expect(err.requestID).toMatch(/^req_[0-9A-Za-z]{24}$/);
  });

  test.each([
    ['unknown key', { apiKey: 'sk-nope' }, {}, Anthropic.AuthenticationError, 'authentication_error'],
    ['unknown model', {}, { model: 'no-such-model' }, Anthropic.NotFoundError, 'not_found_error'],
    ['invalid body', {}, { max_tokens: -1 }, Anthropic.BadRequestError, 'invalid_request_error'],
  ])('gateway refusal (%s) surfaces as the SDK error class', async (_name, clientOpts, bodyOver, cls, type) => {
    const c = new Anthropic({ baseURL: baseURL(gw), apiKey: CLIENT_KEY, maxRetries: 0, ...clientOpts });
    const before = fake.received.length;
    const err = await c.messages.create({ model: 'claude-test', max_tokens: 10, messages: [{ role: 'user', content: 'Hi' }], ...bodyOver }).catch((e) => e);
    expect(err).toBeInstanceOf(cls);
    expect(err.error).toMatchObject({ type: 'error', error: { type }, request_id: err.requestID });
    expect(fake.received.length).toBe(before);
  });
});

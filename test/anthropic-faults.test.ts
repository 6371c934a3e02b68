import Anthropic from '@anthropic-ai/sdk';
import type { Gateway } from '../gateway/src/gateway';
import { createLogger } from '../gateway/src/log';
import { startFakeAnthropic, textStream, type FakeAnthropic } from './helpers/fake-anthropic';
import { CLIENT_KEY, UPSTREAM_KEY, baseURL, simpleConfig, snapshotOf, startGateway } from './helpers/gateway';

/**
 * Anthropic pass-through faults as the official SDK sees them (the cross-provider table is in
 * faults.test.ts): what used to resolve as a success or throw a JSON parse error.
 */
describe('Anthropic upstream faults through the SDK', () => {
  let fake: FakeAnthropic;
  let gw: Gateway;
  let client: Anthropic;
  const logged: string[] = [];

  beforeAll(async () => {
    fake = await startFakeAnthropic();
    gw = await startGateway(snapshotOf(simpleConfig(fake.url, { routeSpec: { retry: { attempts: 2, on: ['5xx', 'connect'] } } })), {
      log: createLogger('gateway', 'debug', (l) => logged.push(l)),
    });
    client = new Anthropic({ baseURL: baseURL(gw), apiKey: CLIENT_KEY, maxRetries: 0 });
  });
  afterAll(async () => {
    await gw.close();
    await fake.close();
  });
  beforeEach(() => {
    fake.received.length = 0;
    fake.queue.length = 0;
    logged.length = 0;
  });

  const ask = { model: 'claude-test', max_tokens: 10, messages: [{ role: 'user' as const, content: 'Hi' }] };

  test('a 200 carrying an error envelope is a retried 502, not a resolved create()', async () => {
    const envelope = {
      kind: 'raw' as const,
      status: 200,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'error', error: { type: 'overloaded_error', message: `busy (key ${UPSTREAM_KEY})` } }),
    };
    fake.queue.push(envelope, envelope);
    const err: any = await client.messages.create(ask).catch((e) => e);
    expect(err).toBeInstanceOf(Anthropic.InternalServerError);
    expect(err.status).toBe(502);
    expect(err.error).toMatchObject({ type: 'error', error: { type: 'api_error' } });
    expect(JSON.stringify(err.error)).not.toContain(UPSTREAM_KEY);
    expect(fake.received).toHaveLength(2);
  });

  test('count_tokens answered with HTML is a 502 api_error', async () => {
    const page = { kind: 'raw' as const, status: 200, headers: { 'content-type': 'text/html' }, body: '<html>proxy</html>' };
    fake.queue.push(page, page);
    const err: any = await client.messages.countTokens(ask).catch((e) => e);
    expect(err.status).toBe(502);
    expect(err.error.error.type).toBe('api_error');
  });

  test.each([
    ['data that is not JSON', 'event: content_block_delta\ndata: <html>oops</html>\n\n'],
    ['data cut off', 'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_de\n\n'],
    ['data of another event type', 'event: content_block_delta\ndata: {"type":"message_stop"}\n\n'],
    ['data without a type', 'event: content_block_delta\ndata: {"index":0}\n\n'],
  ])('a malformed event (%s) makes the SDK stream fail with an api_error, not a parse error', async (_what, bad) => {
    const events = textStream('claude-upstream-1', ['Hel', 'lo']);
    const good = (i: number, j?: number) =>
      events
        .slice(i, j)
        .map(([n, d]) => `event: ${n}\ndata: ${JSON.stringify(d)}\n\n`)
        .join('');
    fake.queue.push({ kind: 'raw', status: 200, headers: { 'content-type': 'text/event-stream' }, body: good(0, 4) + bad + good(4) });
    const err: any = await client.messages
      .stream(ask)
      .finalMessage()
      .catch((e) => e);
    expect(err).toBeInstanceOf(Anthropic.APIError);
    expect(err.error).toMatchObject({
      type: 'error',
      error: { type: 'api_error', message: expect.stringContaining("anthropic target 'claude-upstream-1' sent a malformed stream event") },
    });
  });

  test('a stream that opens with an authentication_error event reaches the SDK as a 401 with the key redacted, not retried', async () => {
    fake.queue.push({
      kind: 'stream',
      events: [['error', { type: 'error', error: { type: 'authentication_error', message: `invalid x-api-key ${UPSTREAM_KEY}` } }]],
    });
    const err: any = await client.messages
      .stream(ask)
      .finalMessage()
      .catch((e) => e);
    expect(err).toBeInstanceOf(Anthropic.AuthenticationError);
    expect(err.status).toBe(401);
    expect(err.error.error.message).toBe('invalid x-api-key [redacted]');
    expect(fake.received).toHaveLength(1);
  });

  test('a JSON answer to a stream request is streamed: text, thinking with its signature, redacted thinking and tool_use survive', async () => {
    const content = [
      { type: 'thinking', thinking: 'Let me think.', signature: 'EqQBCgIYAhIM' },
      { type: 'redacted_thinking', data: 'EmwKAhgBEgy3va3pzix' },
      { type: 'text', text: 'Checking the weather.' },
      { type: 'tool_use', id: 'toolu_01A', name: 'get_weather', input: { city: 'Paris', units: ['c'] } },
    ];
    fake.queue.push({
      kind: 'message',
      message: { content, stop_reason: 'tool_use', usage: { input_tokens: 30, output_tokens: 12, cache_read_input_tokens: 5, cache_creation_input_tokens: 0 } },
    });
    const stream = client.messages.stream({ ...ask, stream: true } as any);
    const final = await stream.finalMessage();
    expect(final.content).toEqual(content);
    expect(final.stop_reason).toBe('tool_use');
    expect(final.usage).toMatchObject({ input_tokens: 30, output_tokens: 12, cache_read_input_tokens: 5 });
  });

  test('a failed attempt names the target to the client and its address only in the gateway log', async () => {
    const gone = await startFakeAnthropic();
    const port = gone.port;
    await gone.close();
    const gw2 = await startGateway(snapshotOf(simpleConfig(`http://127.0.0.1:${port}`, { routeSpec: { retry: { attempts: 1, on: ['connect'] } } })), {
      log: createLogger('gateway', 'debug', (l) => logged.push(l)),
    });
    try {
      const c = new Anthropic({ baseURL: baseURL(gw2), apiKey: CLIENT_KEY, maxRetries: 0 });
      const err: any = await c.messages.create(ask).catch((e) => e);
      expect(err.status).toBe(502);
      expect(err.error.error.message).toContain("anthropic target 'claude-upstream-1': ECONNREFUSED");
      expect(err.error.error.message).not.toContain(String(port));
      expect(logged.join('\n')).toContain(`http://127.0.0.1:${port}`);
    } finally {
      await gw2.close();
    }
  });
});

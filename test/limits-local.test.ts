import Anthropic from '@anthropic-ai/sdk';
import { estimateInputTokens } from '../gateway/src/limits/estimate';
import { textStream } from './helpers/fake-anthropic';
import { apiKey, secret, simpleConfig, snapshotOf } from './helpers/gateway';
import { clockedGateway } from './helpers/clocked-gateway';
import { waitFor } from './helpers/http-server';
import type { K8sObject } from '../gateway/src/config/k8s-object';

/**
 * Rate limits on the local (in-memory) store, through real HTTP and the official SDK, with the
 * gateway's clock injected so refill happens only when a test moves time.
 */
describe('rate limits (local store)', () => {
  const h = clockedGateway();
  const start = (objects: K8sObject[], gateways?: number) => h.start(objects, { gateways });
  const limited = (keyLimits?: object, routeLimits?: object, gateways?: number) =>
    start(simpleConfig(h.fake.url, { keySpec: keyLimits && { limits: keyLimits }, routeSpec: routeLimits && { limits: routeLimits } }), gateways);

  const ask = (content = 'Hi', extra: object = {}) =>
    h.client.messages.create({ model: 'claude-test', max_tokens: 10, messages: [{ role: 'user', content }], ...extra });
  const refusal = (p: Promise<unknown>) =>
    p.then(
      () => {
        throw new Error('expected a refusal');
      },
      (e) => e,
    );

  test('every response of a limited request carries Anthropic rate-limit headers (SDK .withResponse())', async () => {
    await limited({ requestsPerMinute: 3, inputTokensPerMinute: 10_000, outputTokensPerMinute: 2_000 });
    const { data, response } = await ask().withResponse();
    expect(data.type).toBe('message');
    const h = response.headers;
    expect(h.get('anthropic-ratelimit-requests-limit')).toBe('3');
    expect(h.get('anthropic-ratelimit-requests-remaining')).toBe('2');
    expect(h.get('anthropic-ratelimit-requests-reset')).toBe('2026-03-23T10:00:20Z'); // one request drains in 20 s
    expect(h.get('anthropic-ratelimit-input-tokens-limit')).toBe('10000');
    const estimate = estimateInputTokens({ messages: [{ role: 'user', content: 'Hi' }] });
    expect(h.get('anthropic-ratelimit-input-tokens-remaining')).toBe(String(10_000 - estimate));
    expect(h.get('anthropic-ratelimit-output-tokens-limit')).toBe('2000');
    expect(h.get('anthropic-ratelimit-output-tokens-remaining')).toBe('2000');
    expect(h.get('anthropic-ratelimit-tokens-limit')).toBe('2000'); // the tighter of the two token limits
    for (const k of ['requests', 'input-tokens', 'output-tokens', 'tokens']) {
      expect(h.get(`anthropic-ratelimit-${k}-reset`)).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    }
    const second = await ask().withResponse();
    expect(second.response.headers.get('anthropic-ratelimit-requests-remaining')).toBe('1');
  });

  test('over requestsPerMinute: RateLimitError naming the limit, retry-after, headers; nothing sent upstream', async () => {
    await limited({ requestsPerMinute: 3 });
    for (let i = 0; i < 3; i++) await ask();
    const before = h.fake.received.length;
    const err = await refusal(ask());
    expect(err).toBeInstanceOf(Anthropic.RateLimitError);
    expect(err.status).toBe(429);
    expect(err.error.error).toEqual({
      type: 'rate_limit_error',
      message: 'rate limit exceeded: ApiKey default/team-a requestsPerMinute (3/min); retry after 20s',
    });
    expect(err.headers.get('retry-after')).toBe('20');
    expect(err.headers.get('anthropic-ratelimit-requests-limit')).toBe('3');
    expect(err.headers.get('anthropic-ratelimit-requests-remaining')).toBe('0');
    expect(err.headers.get('anthropic-ratelimit-requests-reset')).toBe('2026-03-23T10:01:00Z');
    expect(err.requestID).toMatch(/^req_/);
    expect(h.fake.received.length).toBe(before);
    expect(h.calls[h.calls.length - 1].rateLimited).toEqual({ scope: 'key', limit: 'requestsPerMinute' });
  });

  test('continuous refill: one more request every 60/N seconds, bursts up to N', async () => {
    await limited({ requestsPerMinute: 3 });
    for (let i = 0; i < 3; i++) await ask();
    h.clock += 19_000;
    expect(await refusal(ask())).toBeInstanceOf(Anthropic.RateLimitError);
    h.clock += 1_000;
    await ask();
    expect(await refusal(ask())).toBeInstanceOf(Anthropic.RateLimitError);
    h.clock += 60_000; // a full minute refills the whole burst, not more
    for (let i = 0; i < 3; i++) await ask();
    expect(await refusal(ask())).toBeInstanceOf(Anthropic.RateLimitError);
  });

  test('route-wide limits apply to every key; the tightest limit is the one in the headers', async () => {
    await limited({ requestsPerMinute: 100 }, { requestsPerMinute: 2 });
    const { response } = await ask().withResponse();
    expect(response.headers.get('anthropic-ratelimit-requests-limit')).toBe('2');
    expect(response.headers.get('anthropic-ratelimit-requests-remaining')).toBe('1');
    await ask();
    const err = await refusal(ask());
    expect(err.error.error.message).toBe('rate limit exceeded: ModelRoute default/main requestsPerMinute (2/min); retry after 30s');
    expect(h.calls[h.calls.length - 1].rateLimited).toEqual({ scope: 'route', limit: 'requestsPerMinute' });
  });

  test('input tokens: a request whose estimate does not fit is refused; the real count is what gets debited', async () => {
    await limited({ inputTokensPerMinute: 1000 });
    h.fake.queue.push({
      kind: 'message',
      message: { usage: { input_tokens: 990, output_tokens: 5, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 } },
    });
    const small = await ask('Hello').withResponse(); // estimated at a few tokens, really 990
    expect(Number(small.response.headers.get('anthropic-ratelimit-input-tokens-remaining'))).toBeGreaterThan(980);
    const err = await refusal(ask('Hello again, a little longer this time'));
    expect(err).toBeInstanceOf(Anthropic.RateLimitError);
    expect(err.error.error.message).toMatch(
      /^rate limit exceeded: ApiKey default\/team-a inputTokensPerMinute \(1000\/min; this request is estimated at \d+ input tokens\); retry after \ds$/,
    );
    expect(err.headers.get('anthropic-ratelimit-input-tokens-remaining')).toBe('10');
    // A request bigger than the whole bucket is admitted once the bucket is full, and leaves it in debt.
    h.clock += 60_000;
    const big = 'word '.repeat(1000); // ~1,430 estimated tokens
    h.fake.queue.push({
      kind: 'message',
      message: { usage: { input_tokens: 1500, output_tokens: 5, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 } },
    });
    await ask(big);
    const after = await refusal(ask());
    expect(after.error.error.message).toMatch(/inputTokensPerMinute \(1000\/min; this request is estimated at \d+ input tokens\); retry after 3\ds$/);
  });

  test('output tokens are debited after the fact: a response over the limit blocks the next request until it drains', async () => {
    await limited({ outputTokensPerMinute: 100 });
    h.fake.queue.push({
      kind: 'message',
      message: { usage: { input_tokens: 10, output_tokens: 150, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 } },
    });
    await ask();
    const err = await refusal(ask());
    expect(err.error.error.message).toMatch(/^rate limit exceeded: ApiKey default\/team-a outputTokensPerMinute \(100\/min\); retry after 3[01]s$/);
    expect(err.headers.get('anthropic-ratelimit-output-tokens-remaining')).toBe('0');
    h.clock += 31_000;
    await ask();
  });

  test('streams: input is debited when message_start arrives, output as message_delta arrives', async () => {
    await limited({ inputTokensPerMinute: 10_000, outputTokensPerMinute: 1_000 });
    const events = textStream('claude-upstream-1', ['Hel', 'lo'], { input_tokens: 4000, output_tokens: 300 });
    h.fake.queue.push({ kind: 'stream', events, hangAfter: 4 }); // message_start, block start, ping, first delta
    const stream = h.client.messages.stream({ model: 'claude-test', max_tokens: 100, messages: [{ role: 'user', content: 'Hi' }] });
    stream.done().catch(() => undefined); // aborted below
    await new Promise<void>((resolve) => stream.on('text', () => resolve()));
    const during = await ask('Hi').withResponse();
    const est = estimateInputTokens({ messages: [{ role: 'user', content: 'Hi' }] });
    expect(during.response.headers.get('anthropic-ratelimit-input-tokens-remaining')).toBe(String(10_000 - 4000 - est));
    expect(during.response.headers.get('anthropic-ratelimit-output-tokens-remaining')).toBe(String(1000 - 1)); // message_start's 1
    stream.abort();
    await waitFor(() => h.calls.length >= 2, 5000, 'the stream to end');

    h.fake.queue.push({ kind: 'stream', events: textStream('claude-upstream-1', ['a', 'b'], { input_tokens: 100, output_tokens: 500 }) });
    await h.client.messages.stream({ model: 'claude-test', max_tokens: 600, messages: [{ role: 'user', content: 'Hi' }] }).finalMessage();
    const after = await ask('Hi').withResponse();
    // 1 (aborted stream) + 6 (the reply in between) + 500 output tokens used so far.
    expect(after.response.headers.get('anthropic-ratelimit-output-tokens-remaining')).toBe(String(1000 - 1 - 6 - 500));
  });

  test('maxConcurrent counts a stream until it ends; a client disconnect frees the slot', async () => {
    await limited({ maxConcurrent: 1 });
    h.fake.queue.push({ kind: 'stream', events: textStream('claude-upstream-1', ['x', 'y']), hangAfter: 4 });
    const stream = h.client.messages.stream({ model: 'claude-test', max_tokens: 100, messages: [{ role: 'user', content: 'Hi' }] });
    stream.done().catch(() => undefined); // aborted below
    await new Promise<void>((resolve) => stream.on('text', () => resolve()));
    const err = await refusal(ask());
    expect(err.error.error.message).toBe('rate limit exceeded: ApiKey default/team-a maxConcurrent (1 in flight); retry after 1s');
    expect(err.headers.get('retry-after')).toBe('1');
    expect(h.calls[h.calls.length - 1].rateLimited).toEqual({ scope: 'key', limit: 'maxConcurrent' });
    stream.abort();
    await waitFor(
      () =>
        ask().then(
          () => true,
          () => false,
        ),
      5000,
      'the slot to be released',
    );
  });

  test('concurrency is released after upstream errors and broken streams', async () => {
    await limited(undefined, { maxConcurrent: 1 });
    h.fake.queue.push({ kind: 'error', status: 500, type: 'api_error', message: 'boom', headers: { 'x-should-retry': 'false' } });
    expect(await refusal(ask())).toBeInstanceOf(Anthropic.InternalServerError);
    h.fake.queue.push({ kind: 'stream', events: textStream('claude-upstream-1', ['x', 'y']), cutAfter: 4, delayMs: 20 });
    await expect(
      h.client.messages.stream({ model: 'claude-test', max_tokens: 100, messages: [{ role: 'user', content: 'Hi' }] }).finalMessage(),
    ).rejects.toMatchObject({
      // the upstream cut the connection mid-stream: the stream ends with an error event naming the target
      error: { type: 'error', error: { type: 'api_error', message: expect.stringMatching(/^anthropic target 'claude-upstream-1': .*closed/) } },
    });
    await waitFor(() => h.calls.length >= 2, 5000, 'the broken stream to end');
    const msg = await ask();
    expect(msg.type).toBe('message');
  });

  test('a new snapshot changes limits live without resetting counters', async () => {
    const base = (keyRpm: number, routeRpm?: number): K8sObject[] => [
      ...simpleConfig(h.fake.url, {
        keySpec: { limits: { requestsPerMinute: keyRpm } },
        routeSpec: routeRpm ? { limits: { requestsPerMinute: routeRpm } } : {},
      }),
      secret('client-b', { key: 'sk-test-client-key-0002' }),
      apiKey('team-b', { secretRef: { name: 'client-b' }, limits: { requestsPerMinute: 1 } }),
    ];
    await start(base(2));
    await ask();
    await ask();
    expect(await refusal(ask())).toBeInstanceOf(Anthropic.RateLimitError);
    // Other limits change: team-a's counter is untouched.
    expect(h.gw!.apply(snapshotOf(base(2, 1000))).applied).toBe(true);
    expect(await refusal(ask())).toBeInstanceOf(Anthropic.RateLimitError);
    // team-a's own limit goes up: the two already used still count against the new five.
    expect(h.gw!.apply(snapshotOf(base(5, 1000))).applied).toBe(true);
    for (let i = 0; i < 3; i++) await ask();
    const err = await refusal(ask());
    expect(err.error.error.message).toContain('requestsPerMinute (5/min)');
  });

  test('the local store divides limits by the snapshot gateway count', async () => {
    await limited({ requestsPerMinute: 4 }, undefined, 2);
    const { response } = await ask().withResponse();
    expect(response.headers.get('anthropic-ratelimit-requests-limit')).toBe('2');
    await ask();
    const err = await refusal(ask());
    expect(err.error.error.message).toBe('rate limit exceeded: ApiKey default/team-a requestsPerMinute (4/min, 2/min on each of 2 gateways); retry after 30s');
  });

  test('count_tokens counts as a request but consumes no tokens', async () => {
    await limited({ requestsPerMinute: 2, inputTokensPerMinute: 5 });
    const r = await h.client.messages
      .countTokens({ model: 'claude-test', messages: [{ role: 'user', content: 'a long enough prompt to be over five tokens' }] })
      .withResponse();
    expect(r.response.headers.get('anthropic-ratelimit-requests-remaining')).toBe('1');
    expect(r.response.headers.get('anthropic-ratelimit-input-tokens-limit')).toBeNull();
    await h.client.messages.countTokens({ model: 'claude-test', messages: [{ role: 'user', content: 'Hi' }] });
    const err = await refusal(ask());
    expect(err.error.error.message).toContain('requestsPerMinute (2/min)');
  });

  test('a limit of 0 refuses every request', async () => {
    await limited({ requestsPerMinute: 0 });
    const err = await refusal(ask());
    expect(err.error.error.message).toBe('rate limit exceeded: ApiKey default/team-a requestsPerMinute (0/min); this limit admits no requests');
    expect(err.headers.get('retry-after')).toBe('60');
  });

  test('requests without limits carry no rate-limit headers', async () => {
    await limited();
    const { response } = await ask().withResponse();
    expect([...response.headers.keys()].filter((k) => k.startsWith('anthropic-ratelimit'))).toEqual([]);
  });
});

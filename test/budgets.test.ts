import Anthropic from '@anthropic-ai/sdk';
import type { UsageReport } from '../gateway/src/budget/usage';
import { accessRecord } from '../gateway/src/telemetry/access-log';
import type { K8sObject } from '../gateway/src/config/k8s-object';
import { textStream, type Script } from './helpers/fake-anthropic';
import { CLIENT_KEY, adminURL, apiKey, baseURL, secret, simpleConfig, snapshotOf } from './helpers/gateway';
import { clockedGateway } from './helpers/clocked-gateway';
import { waitFor } from './helpers/http-server';
import { scrape } from './helpers/prom';

/**
 * Spend budgets on the local store, through real HTTP and the official SDK, with the gateway's
 * clock injected so a new period comes when a test moves time. Prices: $3 per million input
 * tokens, $15 output, $0.30 cache reads, $3.75 cache writes.
 */
const PRICING = { inputPerMTok: 3, outputPerMTok: 15, cacheReadPerMTok: 0.3, cacheWritePerMTok: 3.75 };
const OTHER_KEY = 'sk-test-client-key-0002';

const reply = (input: number, output: number, cacheRead = 0, cacheWrite = 0): Script => ({
  kind: 'message',
  message: { usage: { input_tokens: input, output_tokens: output, cache_read_input_tokens: cacheRead, cache_creation_input_tokens: cacheWrite } },
});
/** The price of a usage at PRICING, in dollars. */
const price = (input: number, output: number, cacheRead = 0, cacheWrite = 0) => (input * 3 + output * 15 + cacheRead * 0.3 + cacheWrite * 3.75) / 1e6;

describe('spend budgets (local store)', () => {
  const h = clockedGateway();

  const world = (budget?: object, keyExtra: object = {}): K8sObject[] => [
    ...simpleConfig(h.fake.url, { keySpec: { ...(budget ? { budget } : {}), ...keyExtra }, routeSpec: { pricing: PRICING } }),
    secret('client-b', { key: OTHER_KEY }),
    apiKey('team-b', { secretRef: { name: 'client-b' } }),
  ];

  const start = (objects: K8sObject[], at?: string, gateways?: number) => h.start(objects, { at, gateways });

  const ask = (c = h.client) => c.messages.create({ model: 'claude-test', max_tokens: 10, messages: [{ role: 'user', content: 'Hi' }] });
  const refusal = (p: Promise<unknown>) =>
    p.then(
      () => {
        throw new Error('expected a refusal');
      },
      (e) => e,
    );
  const usage = async (token = 'admin-token'): Promise<UsageReport> => {
    const res = await fetch(`${adminURL(h.gw!)}/admin/usage`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    return (await res.json()) as UsageReport;
  };
  const keyUsage = async (name = 'default/team-a') => (await usage()).keys.find((k) => k.name === name)!;
  /** Settlements are fire-and-forget: wait until the key's request count reaches n. */
  const settled = (n: number, name = 'default/team-a') => waitFor(async () => (await keyUsage(name)).requests >= n, 5000, `${n} requests settled`);

  test('a $0.01 budget: refused with 403 PermissionDeniedError once spend crosses it; the message names budget, spend and reset; a new period admits again', async () => {
    await start(world({ usd: 0.01, period: 'month' }));
    h.fake.queue.push(reply(1000, 400), reply(1000, 400)); // $0.009 each
    await ask();
    await settled(1);
    await ask(); // $0.009 spent: still under the budget, so admitted; it ends at $0.018
    await settled(2);
    const before = h.fake.received.length;
    const err = await refusal(ask());
    expect(err).toBeInstanceOf(Anthropic.PermissionDeniedError);
    expect(err.status).toBe(403);
    expect(err.error.error).toEqual({
      type: 'permission_error',
      message: 'budget exhausted: ApiKey default/team-a spent $0.018 of its $0.01 monthly budget; resets at 2026-04-01T00:00:00Z',
    });
    expect(err.headers.get('retry-after')).toBeNull();
    expect(h.fake.received.length).toBe(before); // never reached the upstream
    const refused = h.calls[h.calls.length - 1];
    expect(refused.budgetExceeded).toEqual({ period: '2026-03', budget_usd: 0.01, spent_usd: 0.018 });
    expect(refused.rateLimited).toBeUndefined();
    expect(accessRecord(refused)).toMatchObject({
      status: 403,
      error_type: 'permission_error',
      rate_limited: null,
      budget_exceeded: { period: '2026-03', budget_usd: 0.01, spent_usd: 0.018 },
    });

    // Other keys are not affected; count_tokens costs nothing and is not refused.
    await ask(new Anthropic({ baseURL: baseURL(h.gw!), apiKey: OTHER_KEY, maxRetries: 0 }));
    expect((await h.client.messages.countTokens({ model: 'claude-test', messages: [{ role: 'user', content: 'Hi' }] })).input_tokens).toBe(42);

    // Still refused a second before the period ends; admitted at midnight UTC on April 1st.
    h.clock = Date.parse('2026-03-31T23:59:59Z');
    expect(await refusal(ask())).toBeInstanceOf(Anthropic.PermissionDeniedError);
    h.clock = Date.parse('2026-04-01T00:00:00Z');
    await ask();
    const april = await keyUsage();
    expect(april).toMatchObject({ period: '2026-04', budgetUSD: 0.01, resetsAt: '2026-05-01T00:00:00Z', periodStart: '2026-04-01T00:00:00Z' });
    await settled(1);
  });

  test('streams debit as usage arrives: a stream whose message_start crosses the budget refuses the next request while it runs; an abandoned stream still counts', async () => {
    await start(world({ usd: 0.01, period: 'day' }));
    // message_start reports 4,000 input tokens ($0.012), then the stream hangs.
    h.fake.queue.push({ kind: 'stream', events: textStream('claude-upstream-1', ['a', 'b'], { input_tokens: 4000, output_tokens: 100 }), hangAfter: 4 });
    const stream = h.client.messages.stream({ model: 'claude-test', max_tokens: 100, messages: [{ role: 'user', content: 'Hi' }] });
    stream.done().catch(() => undefined); // aborted below
    await new Promise<void>((resolve) => stream.on('text', () => resolve()));
    await waitFor(async () => (await keyUsage()).spentUSD > 0.01, 5000, "the stream's input to be debited");
    const err = await refusal(ask());
    expect(err.error.error.message).toBe('budget exhausted: ApiKey default/team-a spent $0.012 of its $0.01 daily budget; resets at 2026-03-24T00:00:00Z');
    stream.abort();
    await settled(1);
    // The client left before message_delta: what was reported (4,000 in, 1 out) is what it cost.
    expect(await keyUsage()).toMatchObject({ spentUSD: price(4000, 1), requests: 1, inputTokens: 4000, outputTokens: 1 });
  });

  test('a completed stream counts its final usage', async () => {
    await start(world({ usd: 0.01, period: 'week' }));
    h.fake.queue.push({ kind: 'stream', events: textStream('claude-upstream-1', ['a', 'b'], { input_tokens: 1000, output_tokens: 600 }) });
    await h.client.messages.stream({ model: 'claude-test', max_tokens: 1000, messages: [{ role: 'user', content: 'Hi' }] }).finalMessage();
    await settled(1);
    expect(await keyUsage()).toMatchObject({ period: '2026-W13', spentUSD: price(1000, 600), inputTokens: 1000, outputTokens: 600 });
    const err = await refusal(ask());
    expect(err.error.error.message).toBe('budget exhausted: ApiKey default/team-a spent $0.012 of its $0.01 weekly budget; resets at 2026-03-30T00:00:00Z');
  });

  test('a request in flight when the budget runs out completes and is counted: spend overshoots by the requests in flight', async () => {
    await start(world({ usd: 0.01, period: 'month' }));
    // A slow stream is admitted first (spend 0), then a quick request spends $0.012 while it runs.
    h.fake.queue.push({
      kind: 'stream',
      events: textStream('claude-upstream-1', ['slow', ' answer'], { input_tokens: 1000, output_tokens: 200 }),
      delayMs: 150,
    });
    const stream = h.client.messages.stream({ model: 'claude-test', max_tokens: 1000, messages: [{ role: 'user', content: 'Hi' }] });
    await new Promise<void>((resolve) => stream.on('connect', () => resolve()));
    h.fake.queue.push(reply(4000, 0));
    await ask();
    const final = await stream.finalMessage();
    expect(final.content[0]).toMatchObject({ type: 'text', text: 'slow answer' });
    await settled(2);
    expect((await keyUsage()).spentUSD).toBeCloseTo(price(4000, 0) + price(1000, 200), 9);
    expect(await refusal(ask())).toBeInstanceOf(Anthropic.PermissionDeniedError);
  });

  test("the target that answered sets the price: a fallback target's own pricing replaces the route's", async () => {
    const target = (model: string, priority: number, extra: object = {}) => ({
      provider: 'anthropic',
      model,
      baseURL: h.fake.url,
      credentialsRef: { name: 'upstream' },
      priority,
      ...extra,
    });
    await start([
      ...world({ usd: 1, period: 'month' }).filter((o) => o.kind !== 'ModelRoute'),
      {
        apiVersion: 'switchyard.dev/v1alpha1',
        kind: 'ModelRoute',
        metadata: { name: 'main', namespace: 'default' },
        spec: {
          model: 'claude-test',
          targets: [target('up-primary', 0), target('up-backup', 1, { pricing: { inputPerMTok: 1, outputPerMTok: 2 } })],
          retry: { attempts: 1, on: ['5xx'] },
          pricing: PRICING,
        },
      },
    ]);
    h.fake.queue.push({ kind: 'error', status: 500, type: 'api_error', message: 'x' }, reply(1000, 1000));
    await ask();
    await settled(1);
    expect((await keyUsage()).spentUSD).toBe((1000 * 1 + 1000 * 2) / 1e6);
  });

  test('a spent budget is a 403 even when a rate limit refuses the request too', async () => {
    await start(world({ usd: 0.01, period: 'month' }, { limits: { requestsPerMinute: 1 } }));
    h.fake.queue.push(reply(4000, 0));
    await ask();
    await settled(1);
    const err = await refusal(ask());
    expect(err).toBeInstanceOf(Anthropic.PermissionDeniedError);
    expect(err.headers.get('anthropic-ratelimit-requests-remaining')).toBe('0');
  });

  test('each token type is priced apart; usage counts every input token', async () => {
    await start(world({ usd: 100, period: 'month' }));
    h.fake.queue.push(reply(100, 50, 1000, 200), reply(10, 5, 0, 0));
    await ask();
    await ask();
    await settled(2);
    expect(await keyUsage()).toMatchObject({
      spentUSD: Math.round((price(100, 50, 1000, 200) + price(10, 5)) * 1e6) / 1e6,
      requests: 2,
      inputTokens: 100 + 1000 + 200 + 10,
      outputTokens: 55,
      budgetUSD: 100,
      enforcedUSD: 100,
    });
    // An upstream error costs nothing but counts as a request.
    h.fake.queue.push({ kind: 'error', status: 400, type: 'invalid_request_error', message: 'bad' });
    await refusal(ask());
    await settled(3);
    expect((await keyUsage()).spentUSD).toBe(Math.round((price(100, 50, 1000, 200) + price(10, 5)) * 1e6) / 1e6);
  });

  test("time zones and DST: the period follows the budget's zone and the reset is named in local time", async () => {
    // Paris is on summer time (UTC+2) until October 25th, then UTC+1: November starts at 23:00 UTC.
    await start(world({ usd: 0.005, period: 'month', timezone: 'Europe/Paris' }), '2026-10-20T12:00:00Z');
    h.fake.queue.push(reply(1000, 200)); // $0.006
    await ask();
    await settled(1);
    const err = await refusal(ask());
    // Summer time (+02:00) now, winter time (+01:00) when it resets.
    expect(err.error.error.message).toBe(
      'budget exhausted: ApiKey default/team-a spent $0.006 of its $0.005 monthly budget; resets at 2026-11-01T00:00:00+01:00',
    );
    expect(await keyUsage()).toMatchObject({
      period: '2026-10',
      periodStart: '2026-10-01T00:00:00+02:00',
      resetsAt: '2026-11-01T00:00:00+01:00',
      timezone: 'Europe/Paris',
    });
    h.clock = Date.parse('2026-10-31T22:59:59Z');
    expect(await refusal(ask())).toBeInstanceOf(Anthropic.PermissionDeniedError);
    h.clock = Date.parse('2026-10-31T23:00:00Z'); // midnight in Paris
    await ask();
    expect((await keyUsage()).period).toBe('2026-11');
  });

  test("the local store enforces each pod's share: budget ÷ gateways", async () => {
    await start(world({ usd: 0.01, period: 'month' }), undefined, 2);
    h.fake.queue.push(reply(1000, 200)); // $0.006, over this pod's $0.005
    await ask();
    await settled(1);
    const err = await refusal(ask());
    expect(err.error.error.message).toBe(
      'budget exhausted: ApiKey default/team-a spent $0.006 on this gateway, its share ($0.005) of the $0.01 monthly budget divided over 2 gateways; resets at 2026-04-01T00:00:00Z',
    );
    const u = await usage();
    expect(u).toMatchObject({ store: 'pod', gateways: 2 });
    expect(u.keys.find((k) => k.name === 'default/team-a')).toMatchObject({ budgetUSD: 0.01, enforcedUSD: 0.005, spentUSD: 0.006, remainingUSD: 0 });
  });

  test('a new configuration changes the budget live without resetting the spend', async () => {
    await start(world({ usd: 0.01, period: 'month' }));
    h.fake.queue.push(reply(4000, 0)); // $0.012
    await ask();
    await settled(1);
    expect(await refusal(ask())).toBeInstanceOf(Anthropic.PermissionDeniedError);
    expect(h.gw!.apply(snapshotOf(world({ usd: 0.02, period: 'month' }))).applied).toBe(true);
    await ask();
    await settled(2);
    expect((await keyUsage()).spentUSD).toBeCloseTo(0.012 + price(12, 6), 9);
  });

  test('GET /admin/usage: admin token required; every key listed, keys without a budget per UTC month', async () => {
    await start(world({ usd: 5, period: 'day', timezone: 'America/New_York' }));
    expect((await fetch(`${adminURL(h.gw!)}/admin/usage`)).status).toBe(401);
    expect((await fetch(`${adminURL(h.gw!)}/admin/usage`, { headers: { authorization: 'Bearer nope' } })).status).toBe(401);
    await ask(new Anthropic({ baseURL: baseURL(h.gw!), apiKey: OTHER_KEY, maxRetries: 0 }));
    await settled(1, 'default/team-b');
    const u = await usage();
    expect(u).toMatchObject({ store: 'pod', gateways: 1, version: h.gw!.table!.version, time: '2026-03-23T10:00:00.000Z' });
    expect(u.keys).toEqual([
      {
        name: 'default/team-a',
        period: '2026-03-23',
        periodKind: 'day',
        timezone: 'America/New_York',
        periodStart: '2026-03-23T00:00:00-04:00',
        resetsAt: '2026-03-24T00:00:00-04:00',
        budgetUSD: 5,
        enforcedUSD: 5,
        spentUSD: 0,
        remainingUSD: 5,
        requests: 0,
        inputTokens: 0,
        outputTokens: 0,
      },
      {
        name: 'default/team-b',
        period: '2026-03',
        periodKind: 'month',
        timezone: 'UTC',
        periodStart: '2026-03-01T00:00:00Z',
        resetsAt: '2026-04-01T00:00:00Z',
        budgetUSD: null,
        enforcedUSD: null,
        spentUSD: price(12, 6),
        remainingUSD: null,
        requests: 1,
        inputTokens: 12,
        outputTokens: 6,
      },
    ]);
    expect(JSON.stringify(u)).not.toContain(CLIENT_KEY);
  });

  test('switchyard_budget_remaining_usd{api_key}: what is left in the current period, full again in the next', async () => {
    await start(world({ usd: 0.05, period: 'month' }));
    const remaining = async () => (await scrape(adminURL(h.gw!))).samples.get('switchyard_budget_remaining_usd{api_key="default/team-a"}');
    expect(await remaining()).toBe(0.05);
    h.fake.queue.push(reply(1000, 400)); // $0.009
    await ask();
    await settled(1);
    expect(await remaining()).toBeCloseTo(0.041, 9);
    const s = await scrape(adminURL(h.gw!));
    expect(s.types.get('switchyard_budget_remaining_usd')).toBe('gauge');
    expect([...s.samples.keys()].filter((k) => k.startsWith('switchyard_budget_remaining_usd'))).toEqual([
      'switchyard_budget_remaining_usd{api_key="default/team-a"}',
    ]); // keys without a budget have none
    h.clock = Date.parse('2026-04-01T00:00:00Z');
    expect(await remaining()).toBe(0.05);
  });

  test('switchyard_budget_usd{api_key}: the budget this pod enforces, its share with the local store, beside what is left of it', async () => {
    await start(world({ usd: 0.1, period: 'month' }), undefined, 4);
    const s = await scrape(adminURL(h.gw!));
    expect(s.types.get('switchyard_budget_usd')).toBe('gauge');
    expect([...s.samples.entries()].filter(([k]) => k.startsWith('switchyard_budget_usd'))).toEqual([
      ['switchyard_budget_usd{api_key="default/team-a"}', 0.025],
    ]);
    expect(s.samples.get('switchyard_budget_remaining_usd{api_key="default/team-a"}')).toBe(0.025);
  });
});

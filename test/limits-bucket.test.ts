import { CallContext } from '../gateway/src/core/call';
import { GatewayError } from '../gateway/src/core/errors';
import { drain, fits, fullInMs, perMinute, waitMs } from '../gateway/src/limits/bucket';
import { estimateInputTokens } from '../gateway/src/limits/estimate';
import { rateLimitHeaders, rfc3339 } from '../gateway/src/limits/headers';
import { StoreLimiter } from '../gateway/src/limits/limiter';
import { openAccount } from '../gateway/src/budget/account';
import { LocalStore } from '../gateway/src/limits/local-store';
import type { Check } from '../gateway/src/limits/store';
import { RoutingTable } from '../gateway/src/routing/table';
import { UPSTREAM_KEY, simpleConfig, snapshotOf } from './helpers/gateway';

/** Pure bucket maths and the local store, on an injected clock. */
describe('token bucket maths', () => {
  const rate = perMinute(60); // one per second

  test('continuous refill: used drains at capacity per minute, never below zero', () => {
    expect(drain(60, 1000, rate)).toBeCloseTo(59);
    expect(drain(60, 30_000, rate)).toBeCloseTo(30);
    expect(drain(10, 60_000, rate)).toBe(0);
    expect(drain(10, -5, rate)).toBe(10); // a clock that went backwards refills nothing
  });

  test('a burst up to capacity fits, one more does not until refill', () => {
    let used = 0;
    let admitted = 0;
    while (fits(used, 1, 60)) {
      used += 1;
      admitted++;
    }
    expect(admitted).toBe(60);
    expect(waitMs(used, 1, 60, rate)).toBeCloseTo(1000);
    expect(fits(drain(used, 999, rate), 1, 60)).toBe(false);
    expect(fits(drain(used, 1000, rate), 1, 60)).toBe(true);
  });

  test('debit after the fact leaves the bucket in debt until it drains', () => {
    const cap = 100;
    const r = perMinute(cap);
    let used = 10; // estimate taken at admission
    used += 140; // real usage came back 150
    expect(fits(used, 0, cap)).toBe(false); // an output check (cost 0) refuses while in debt
    expect(waitMs(used, 0, cap, r)).toBeCloseTo(30_000 + 0.6, 0); // 50 tokens at 100/min, plus a hair
    expect(fits(drain(used, 30_001, r), 0, cap)).toBe(true);
    expect(fullInMs(used, r)).toBeCloseTo(90_000);
  });

  test('a request larger than the bucket needs a full bucket, then leaves it in debt', () => {
    expect(fits(0, 500, 100)).toBe(true);
    expect(fits(1, 500, 100)).toBe(false);
    expect(waitMs(1, 500, 100, perMinute(100))).toBeCloseTo(600);
  });

  test('capacity 0 refuses everything, forever', () => {
    expect(fits(0, 1, 0)).toBe(false);
    expect(fits(0, 0, 0)).toBe(false);
    expect(waitMs(0, 1, 0, 0)).toBe(Infinity);
  });

  test('headers pick the tightest limit and use Anthropic formats', () => {
    const now = Date.parse('2026-03-23T10:00:00.200Z');
    const h = rateLimitHeaders(
      [
        { category: 'requests', state: { ok: true, used: 10, capacity: 60, perMs: perMinute(60), divisor: 1 } },
        { category: 'requests', state: { ok: true, used: 4, capacity: 5, perMs: perMinute(5), divisor: 1 } },
        { category: 'input-tokens', state: { ok: true, used: 250.5, capacity: 1000, perMs: perMinute(1000), divisor: 1 } },
        { category: 'output-tokens', state: { ok: true, used: 0, capacity: 500, perMs: perMinute(500), divisor: 1 } },
      ],
      now,
    );
    expect(h).toEqual({
      'anthropic-ratelimit-requests-limit': '5',
      'anthropic-ratelimit-requests-remaining': '1',
      'anthropic-ratelimit-requests-reset': '2026-03-23T10:00:49Z', // 4 of 5/min drain in 48 s, rounded up
      'anthropic-ratelimit-input-tokens-limit': '1000',
      'anthropic-ratelimit-input-tokens-remaining': '749',
      'anthropic-ratelimit-input-tokens-reset': '2026-03-23T10:00:16Z',
      'anthropic-ratelimit-output-tokens-limit': '500',
      'anthropic-ratelimit-output-tokens-remaining': '500',
      'anthropic-ratelimit-output-tokens-reset': '2026-03-23T10:00:01Z',
      'anthropic-ratelimit-tokens-limit': '500',
      'anthropic-ratelimit-tokens-remaining': '500',
      'anthropic-ratelimit-tokens-reset': '2026-03-23T10:00:01Z',
    });
    expect(rfc3339(now)).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  });
});

describe('input-token estimate', () => {
  test('grows with the prompt, counts non-Latin text by bytes, images flat, base64 never as text', () => {
    const short = estimateInputTokens({ messages: [{ role: 'user', content: 'Hello' }] });
    const prose = 'The quick brown fox jumps over the lazy dog. '.repeat(100); // 4,500 chars
    const long = estimateInputTokens({ system: 'Be brief.', messages: [{ role: 'user', content: prose }] });
    expect(short).toBeGreaterThan(0);
    expect(short).toBeLessThan(15);
    // ~10 tokens per sentence in BPE tokenizers, so ~1,000 real tokens; the estimate is within a third of that.
    expect(long).toBeGreaterThan(1000);
    expect(long).toBeLessThan(1400);
    const cjk = estimateInputTokens({ messages: [{ role: 'user', content: '日本語のテキスト'.repeat(100) }] });
    expect(cjk).toBeGreaterThan(600); // 800 characters, roughly a token each (chars/3.5 would say 229)
    const image = { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'A'.repeat(1_000_000) } };
    const withImage = estimateInputTokens({ messages: [{ role: 'user', content: [image, { type: 'text', text: 'What is this?' }] }] });
    expect(withImage).toBeGreaterThan(1600);
    expect(withImage).toBeLessThan(1700);
    const tools = estimateInputTokens({
      messages: [{ role: 'user', content: 'Hi' }],
      tools: [{ name: 'get_weather', description: 'Weather for a city', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }],
    });
    expect(tools).toBeGreaterThan(350);
  });
});

describe('LocalStore', () => {
  let clock = 1_000_000;
  const now = () => clock;
  let store: LocalStore;
  beforeEach(() => {
    clock = 1_000_000;
    store = new LocalStore(now);
  });
  afterEach(() => store.close());

  const rpm = (id: string, limit: number, cost = 1): Check => ({ kind: 'rate', id, capacity: limit, perMs: perMinute(limit), cost });

  test('admits all checks or none', () => {
    const a = store.admitNow({ checks: [rpm('a', 10), rpm('b', 1)], holder: 'r1', gateways: 1 });
    expect(a.admitted).toBe(true);
    const b = store.admitNow({ checks: [rpm('a', 10), rpm('b', 1)], holder: 'r2', gateways: 1 });
    expect(b.admitted).toBe(false);
    expect(b.states.map((s) => s.ok)).toEqual([true, false]);
    expect(store.used('a', perMinute(10))).toBe(1); // the refused request took nothing from 'a'
  });

  test('refills with the clock', () => {
    for (let i = 0; i < 3; i++) expect(store.admitNow({ checks: [rpm('k', 3)], holder: `r${i}`, gateways: 1 }).admitted).toBe(true);
    expect(store.admitNow({ checks: [rpm('k', 3)], holder: 'x', gateways: 1 }).admitted).toBe(false);
    clock += 19_999;
    expect(store.admitNow({ checks: [rpm('k', 3)], holder: 'x', gateways: 1 }).admitted).toBe(false);
    clock += 1;
    expect(store.admitNow({ checks: [rpm('k', 3)], holder: 'x', gateways: 1 }).admitted).toBe(true);
  });

  test('divides limits by the number of gateways; a fractional concurrency share still admits one', () => {
    const r = store.admitNow({ checks: [rpm('k', 60)], holder: 'r', gateways: 3 });
    expect(r.states[0]).toMatchObject({ capacity: 20, divisor: 3 });
    const slot: Check = { kind: 'slots', id: 'c', max: 1 };
    expect(store.admitNow({ checks: [slot], holder: 'a', gateways: 3 }).admitted).toBe(true);
    expect(store.admitNow({ checks: [slot], holder: 'b', gateways: 3 }).admitted).toBe(false);
  });

  test('slots are held until released', () => {
    const slot: Check = { kind: 'slots', id: 'c', max: 2 };
    expect(store.admitNow({ checks: [slot], holder: 'a', gateways: 1 }).admitted).toBe(true);
    expect(store.admitNow({ checks: [slot], holder: 'b', gateways: 1 }).admitted).toBe(true);
    expect(store.admitNow({ checks: [slot], holder: 'c', gateways: 1 }).admitted).toBe(false);
    store.settle({ holder: 'a', gateways: 1, debits: [], release: ['c'] });
    expect(store.inFlight('c')).toBe(1);
    expect(store.admitNow({ checks: [slot], holder: 'c', gateways: 1 }).admitted).toBe(true);
  });

  test('a changed capacity applies to what was already used (no reset)', () => {
    for (let i = 0; i < 5; i++) store.admitNow({ checks: [rpm('k', 5)], holder: `r${i}`, gateways: 1 });
    expect(store.admitNow({ checks: [rpm('k', 5)], holder: 'x', gateways: 1 }).admitted).toBe(false);
    const raised = store.admitNow({ checks: [rpm('k', 8)], holder: 'y', gateways: 1 });
    expect(raised.admitted).toBe(true);
    expect(raised.states[0].used).toBe(6);
  });

  test('settle debits and refunds, never below zero', () => {
    store.admitNow({ checks: [rpm('t', 1000, 100)], holder: 'r', gateways: 1 });
    store.settle({ holder: 'r', gateways: 1, debits: [{ id: 't', perMs: perMinute(1000), amount: 400 }], release: [] });
    expect(store.used('t', perMinute(1000))).toBe(500);
    store.settle({ holder: 'r', gateways: 1, debits: [{ id: 't', perMs: perMinute(1000), amount: -900 }], release: [] });
    expect(store.used('t', perMinute(1000))).toBe(0);
  });
});

describe('StoreLimiter on the local store', () => {
  let clock = 5_000_000;
  let store: LocalStore;
  let limiter: StoreLimiter;
  const table = new RoutingTable(
    snapshotOf(simpleConfig('http://127.0.0.1:1', { keySpec: { limits: { requestsPerMinute: 10, inputTokensPerMinute: 1000, maxConcurrent: 1 } } })),
  );
  const key = [...table.keys][0];
  const route = table.route('claude-test')!;

  beforeEach(() => {
    store = new LocalStore(() => clock);
    limiter = new StoreLimiter(store, () => clock, openAccount);
  });
  afterEach(() => store.close());

  function call(): CallContext {
    const c = new CallContext(clock);
    c.endpoint = 'messages';
    c.table = table;
    c.key = key;
    c.route = route;
    c.body = { model: 'claude-test', max_tokens: 10, messages: [{ role: 'user', content: 'x'.repeat(700) }] };
    return c;
  }

  test('concurrency is released when the request ends in an error, and its input estimate refunded', async () => {
    const c = call();
    const a = await limiter.admit(c);
    expect(store.inFlight('key:default/team-a:conc')).toBe(1);
    expect(store.used('key:default/team-a:itpm', perMinute(1000))).toBeGreaterThan(200);
    const refused = await limiter.admit(call()).catch((e) => e);
    expect(refused).toBeInstanceOf(GatewayError);
    expect(refused.message).toContain('ApiKey default/team-a maxConcurrent (1 in flight)');
    // The upstream answered 502 before any usage: nothing processed.
    c.attempts.push({ target: route.targets[0], n: 1, startedAt: 0, durationMs: 1, outcome: 'failure', failure: 'connect', retryable: false });
    c.status = 502;
    a.release(c);
    a.release(c); // exactly once, even if called twice
    expect(store.inFlight('key:default/team-a:conc')).toBe(0);
    expect(store.used('key:default/team-a:itpm', perMinute(1000))).toBe(0);
  });

  test('a client that disconnects mid-request frees its slot; the estimate stays debited if usage never came', async () => {
    const c = call();
    const a = await limiter.admit(c);
    const estimate = store.used('key:default/team-a:itpm', perMinute(1000));
    c.attempts.push({ target: route.targets[0], n: 1, startedAt: 0, durationMs: 1, outcome: 'failure', failure: 'aborted', retryable: false });
    c.clientAborted = true;
    c.status = 499;
    a.release(c);
    expect(store.inFlight('key:default/team-a:conc')).toBe(0);
    expect(store.used('key:default/team-a:itpm', perMinute(1000))).toBeCloseTo(estimate);
  });

  test('usage arriving during a stream replaces the estimate; the end settles the rest', async () => {
    const c = call();
    const a = await limiter.admit(c);
    c.usage.input_tokens = 300;
    c.usage.cache_creation_input_tokens = 50;
    c.usage.cache_read_input_tokens = 5000; // cache reads do not count
    a.usage!(c, c.usage);
    expect(store.used('key:default/team-a:itpm', perMinute(1000))).toBe(350);
    clock += 6000; // 100 tokens drain
    c.status = 200;
    a.release(c);
    expect(store.used('key:default/team-a:itpm', perMinute(1000))).toBeCloseTo(250);
  });

  test('a client gone before the store answered gets nothing held', async () => {
    const c = call();
    c.endedAt = performance.now(); // the response closed while admit() was pending
    await expect(limiter.admit(c)).rejects.toBeInstanceOf(GatewayError);
    expect(store.inFlight('key:default/team-a:conc')).toBe(0);
    expect(store.used('key:default/team-a:itpm', perMinute(1000))).toBe(0);
  });

  test('store ids and messages name the ApiKey, never its secret', async () => {
    for (let i = 0; i < 1; i++) await limiter.admit(call());
    const err = await limiter.admit(call()).catch((e) => e);
    expect(err.message).not.toContain(key.sha256);
    expect(err.message).not.toContain(UPSTREAM_KEY);
  });
});

import { connect } from 'node:net';
import Anthropic from '@anthropic-ai/sdk';
import type Redis from 'ioredis';
import { installFeatures } from '../gateway/src/features';
import { StoreLimiter } from '../gateway/src/limits/limiter';
import { openAccount } from '../gateway/src/budget/account';
import { RedisStore } from '../gateway/src/limits/redis-store';
import type { Gateway } from '../gateway/src/gateway';
import { startFakeAnthropic, textStream, type FakeAnthropic } from './helpers/fake-anthropic';
import { CLIENT_KEY, UPSTREAM_KEY, adminURL, apiKey, baseURL, postMessage, secret, simpleConfig, snapshotOf, startGateway } from './helpers/gateway';
import { assertBuilt, metric, spawnGateway, writeConfig, type GatewayProcess } from './helpers/gateway-process';
import { waitFor } from './helpers/http-server';
import { scrape } from './helpers/prom';
import { startRedis, type RedisServer } from './helpers/redis';

/**
 * The Redis store against a real redis-server: limits shared exactly by several gateways, in
 * this process and as separate `switchyard gateway` processes, and what happens when Redis dies
 * and comes back.
 */
describe('rate limits (Redis store)', () => {
  let redis: RedisServer;
  let fake: FakeAnthropic;
  let inspect: Redis;

  let defaultFallback: FakeAnthropic['fallback'];
  beforeAll(async () => {
    redis = await startRedis();
    fake = await startFakeAnthropic();
    defaultFallback = fake.fallback;
    inspect = redis.client();
  });
  afterAll(async () => {
    await redis?.close();
    await fake?.close();
  });

  /** One bucket of a subject's key, as the Redis store keeps it: "field used last-update expiry;…". */
  const bucket = async (key: string, field: string) => {
    const rec = ((await inspect.get(key)) ?? '').split(';').find((r) => r.startsWith(field + ' '));
    const [, u, t] = (rec ?? `${field} 0 0 0`).split(' ').map(Number);
    return { u, t };
  };

  describe('in-process gateways sharing one Redis', () => {
    const gws: Gateway[] = [];
    afterEach(async () => {
      for (const g of gws.splice(0)) await g.close();
      fake.queue.length = 0;
    });
    async function gateway(prefix: string, keyLimits: object, routeLimits?: object, env: Record<string, string> = {}): Promise<Gateway> {
      const gw = await startGateway(snapshotOf(simpleConfig(fake.url, { keySpec: { limits: keyLimits }, routeSpec: routeLimits && { limits: routeLimits } })));
      // A generous command timeout: on a loaded test machine a slow reply must not look like an outage.
      await installFeatures(gw, {
        SWITCHYARD_REDIS_URL: redis.url,
        SWITCHYARD_REDIS_PREFIX: prefix,
        SWITCHYARD_REDIS_TIMEOUT_MS: '5000',
        SWITCHYARD_ACCESS_LOG: 'off',
        ...env,
      });
      gws.push(gw);
      return gw;
    }
    const sdk = (gw: Gateway) => new Anthropic({ baseURL: baseURL(gw), apiKey: CLIENT_KEY, maxRetries: 0 });
    const ask = (c: Anthropic) => c.messages.create({ model: 'claude-test', max_tokens: 10, messages: [{ role: 'user', content: 'Hi' }] });

    test('two gateways share one bucket; the SDK sees RateLimitError and the headers from either', async () => {
      const a = sdk(await gateway('t1:', { requestsPerMinute: 4 }));
      const b = sdk(await gateway('t1:', { requestsPerMinute: 4 }));
      const first = await ask(a).withResponse();
      expect(first.response.headers.get('anthropic-ratelimit-requests-limit')).toBe('4');
      expect(first.response.headers.get('anthropic-ratelimit-requests-remaining')).toBe('3');
      const second = await ask(b).withResponse();
      expect(second.response.headers.get('anthropic-ratelimit-requests-remaining')).toBe('2');
      await ask(a);
      await ask(b);
      const err = await ask(a).catch((e) => e);
      expect(err).toBeInstanceOf(Anthropic.RateLimitError);
      expect(err.error.error.message).toMatch(/^rate limit exceeded: ApiKey default\/team-a requestsPerMinute \(4\/min\); retry after 1[45]s$/);
      expect(Number(err.headers.get('retry-after'))).toBeGreaterThanOrEqual(14);
      expect(err.headers.get('anthropic-ratelimit-requests-remaining')).toBe('0');
      expect(err.headers.get('anthropic-ratelimit-requests-reset')).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    });

    test('concurrent requests batched into one call keep exact limits and sum their usage', async () => {
      const gw = await gateway('t8:', { requestsPerMinute: 6 });
      const c = sdk(gw);
      const results = await Promise.all(
        Array.from({ length: 20 }, () =>
          ask(c).then(
            () => 200,
            (e) => e.status,
          ),
        ),
      );
      expect(results.filter((x) => x === 200).length).toBe(6);
      expect(results.filter((x) => x === 429).length).toBe(14);

      // Six requests admitted together (the upstream answers slowly), settled together: their
      // usage adds up (12 input and 6 output tokens each; the buckets drain 1 token a second).
      const gwt = await gateway('t10:', { inputTokensPerMinute: 60, outputTokensPerMinute: 60 });
      for (let i = 0; i < 6; i++) fake.queue.push({ kind: 'message', delayMs: 600 });
      const t = sdk(gwt);
      await Promise.all(Array.from({ length: 6 }, () => ask(t)));
      await waitFor(async () => (await bucket('t10:rl:key:default/team-a', 'otpm')).u > 30, 5000, 'settlements');
      expect((await bucket('t10:rl:key:default/team-a', 'itpm')).u).toBeGreaterThan(68);
      expect((await bucket('t10:rl:key:default/team-a', 'itpm')).u).toBeLessThanOrEqual(72);
      expect((await bucket('t10:rl:key:default/team-a', 'otpm')).u).toBeLessThanOrEqual(36);

      // Eight streams at once against maxConcurrent 3: three run, five are refused.
      const gw2 = await gateway('t9:', {}, { maxConcurrent: 3 });
      fake.fallback = (r) => (r.body?.stream ? { kind: 'stream', events: textStream(r.body.model, ['x', 'y']), hangAfter: 4 } : { kind: 'message' });
      try {
        const controllers = Array.from({ length: 8 }, () => new AbortController());
        const statuses = await Promise.all(
          controllers.map((ctl) =>
            fetch(`${baseURL(gw2)}/v1/messages`, {
              method: 'POST',
              signal: ctl.signal,
              headers: { 'content-type': 'application/json', 'x-api-key': CLIENT_KEY },
              body: JSON.stringify({ model: 'claude-test', max_tokens: 10, stream: true, messages: [{ role: 'user', content: 'Hi' }] }),
            }).then((r) => r.status),
          ),
        );
        expect(statuses.filter((x) => x === 200).length).toBe(3);
        expect(statuses.filter((x) => x === 429).length).toBe(5);
        expect(await inspect.zcard('t9:rl:route:default/main:conc')).toBe(3);
        for (const ctl of controllers) ctl.abort();
        await waitFor(async () => (await inspect.zcard('t9:rl:route:default/main:conc')) === 0, 5000, 'all slots released');
      } finally {
        fake.fallback = defaultFallback;
      }
    });

    test('keys name the ApiKey and route, never a secret, and all expire', async () => {
      // Small token limits drain slowly (1 a second), so the stored values are close to the debits.
      const gw = await gateway(
        't2:',
        { requestsPerMinute: 50, inputTokensPerMinute: 60, outputTokensPerMinute: 60, maxConcurrent: 5 },
        { requestsPerMinute: 100 },
      );
      await ask(sdk(gw));
      await waitFor(async () => (await bucket('t2:rl:key:default/team-a', 'otpm')).u > 0, 5000, 'settlements to reach Redis');
      const keys = (await inspect.keys('t2:*')).sort();
      // One key per subject for its per-minute buckets; the concurrency set is gone once released.
      // (The key's usage counters of the period, for budgets, expire a day after the period.)
      expect(keys).toEqual(['t2:rl:key:default/team-a', 't2:rl:route:default/main', 't2:rl:usage:default/team-a']);
      const table = gw.table!;
      const digest = [...table.keys][0].sha256;
      for (const k of keys) {
        expect(k).not.toContain(CLIENT_KEY);
        expect(k).not.toContain(UPSTREAM_KEY);
        expect(k).not.toContain(digest);
        const ttl = await inspect.pttl(k);
        expect(ttl).toBeGreaterThan(0);
        if (!k.includes(':usage:')) expect(ttl).toBeLessThanOrEqual(70_000);
      }
      // Real usage (12 in, 6 out from the fake) replaced the estimate.
      expect((await bucket('t2:rl:key:default/team-a', 'itpm')).u).toBeCloseTo(12, 0);
      expect((await bucket('t2:rl:key:default/team-a', 'otpm')).u).toBeCloseTo(6, 0);
      expect((await bucket('t2:rl:key:default/team-a', 'rpm')).u).toBeCloseTo(1, 0);
    });

    test('one script call per event-loop turn carries the admissions and the settlements', async () => {
      // Concurrency slots are part of every script call here, but with room for all 20 at once: the
      // test counts calls, and a loaded machine can have all 20 in flight together.
      const c = sdk(
        await gateway(
          't6:',
          { requestsPerMinute: 1000, inputTokensPerMinute: 100_000, outputTokensPerMinute: 100_000, maxConcurrent: 50 },
          { requestsPerMinute: 1000, maxConcurrent: 50 },
        ),
      );
      await ask(c); // scripts loaded on this connection
      await new Promise((r) => setTimeout(r, 100));
      const calls = async () => {
        const stats = await inspect.info('commandstats');
        return Object.fromEntries([...stats.matchAll(/^cmdstat_(\w+):calls=(\d+)/gm)].map((m) => [m[1], Number(m[2])]));
      };
      await inspect.config('RESETSTAT');
      for (let i = 0; i < 10; i++) await ask(c); // one at a time: an admission, later its settlement
      await new Promise((r) => setTimeout(r, 200));
      const one = await calls();
      // (commandstats also counts the commands scripts run: one TIME per script call.)
      expect(one.evalsha).toBe(one.time);
      expect(one.evalsha).toBeGreaterThanOrEqual(10); // each admission its own call; settlements may ride along
      expect(one.evalsha).toBeLessThanOrEqual(20);
      expect(one.eval).toBeUndefined();
      await inspect.config('RESETSTAT');
      await Promise.all(Array.from({ length: 20 }, () => ask(c))); // concurrent: admissions share calls
      await new Promise((r) => setTimeout(r, 200));
      const many = await calls();
      expect(many.evalsha).toBeLessThan(40); // 40 operations; typically ~21 calls
    });

    test('a stream on one gateway holds the concurrency slot on the other until the client leaves', async () => {
      const ga = await gateway('t3:', { maxConcurrent: 1 });
      const gb = await gateway('t3:', { maxConcurrent: 1 });
      fake.queue.push({ kind: 'stream', events: textStream('claude-upstream-1', ['x', 'y']), hangAfter: 4 });
      const stream = sdk(ga).messages.stream({ model: 'claude-test', max_tokens: 100, messages: [{ role: 'user', content: 'Hi' }] });
      stream.done().catch(() => undefined);
      await new Promise<void>((resolve) => stream.on('text', () => resolve()));
      const err = await ask(sdk(gb)).catch((e) => e);
      expect(err).toBeInstanceOf(Anthropic.RateLimitError);
      expect(err.error.error.message).toContain('maxConcurrent (1 in flight)');
      expect(await inspect.zcard('t3:rl:key:default/team-a:conc')).toBe(1);
      stream.abort();
      await waitFor(async () => (await inspect.zcard('t3:rl:key:default/team-a:conc')) === 0, 5000, 'the slot to be released');
      await ask(sdk(gb));
    });

    test('concurrency leases are renewed while a stream runs, and expire when their pod stops renewing', async () => {
      // Short leases so the test takes seconds: renewed every second, gone 1.5 s after the last renewal.
      const store = new RedisStore({ url: redis.url, prefix: 't7:', leaseMs: 1500, timeoutMs: 5000 });
      await store.settled(5000);
      const ga = await startGateway(snapshotOf(simpleConfig(fake.url, { keySpec: { limits: { maxConcurrent: 1 } } })));
      ga.setLimiter(new StoreLimiter(store, Date.now, openAccount));
      gws.push(ga);
      const gb = await gateway('t7:', { maxConcurrent: 1 });
      fake.queue.push({ kind: 'stream', events: textStream('claude-upstream-1', ['x', 'y']), hangAfter: 4 });
      const stream = sdk(ga).messages.stream({ model: 'claude-test', max_tokens: 100, messages: [{ role: 'user', content: 'Hi' }] });
      stream.done().catch(() => undefined);
      await new Promise<void>((resolve) => stream.on('text', () => resolve()));
      await new Promise((r) => setTimeout(r, 3500)); // more than twice the lease
      expect(await inspect.zcard('t7:rl:key:default/team-a:conc')).toBe(1);
      expect(await ask(sdk(gb)).catch((e) => e)).toBeInstanceOf(Anthropic.RateLimitError);
      // The pod "dies": its store stops renewing without releasing anything.
      await store.close();
      await waitFor(
        () =>
          ask(sdk(gb)).then(
            () => true,
            () => false,
          ),
        10_000,
        'the orphaned lease to expire',
      );
      stream.abort();
    }, 30_000);

    test('metrics: Redis round trips timed by operation; the store named for dashboards (redis here, local without a URL)', async () => {
      const gw = await gateway('t11:', { requestsPerMinute: 100 });
      await waitFor(async () => (await gw.registry.getSingleMetric('switchyard_limit_store_degraded')!.get()).values[0].value === 0, 10_000, 'redis connected');
      const c = sdk(gw);
      for (let i = 0; i < 3; i++) await ask(c);
      const live = await scrape(adminURL(gw));
      expect(live.sum('switchyard_limit_store_duration_seconds_count', { operation: 'admit' })).toBe(3);
      expect(live.types.get('switchyard_limit_store_duration_seconds')).toBe('histogram');
      expect(live.samples.get('switchyard_limit_store_info{store="redis"}')).toBe(1);
      expect(live.sum('switchyard_limit_store_info', { store: 'local' })).toBe(0);
      const plain = await startGateway(snapshotOf(simpleConfig(fake.url)));
      gws.push(plain);
      await installFeatures(plain, { SWITCHYARD_ACCESS_LOG: 'off' });
      const local = await scrape(adminURL(plain));
      expect(local.samples.get('switchyard_limit_store_info{store="local"}')).toBe(1);
      expect(local.exportedNames().has('switchyard_limit_store_duration_seconds_count')).toBe(false);
    });

    test('scripts flushed from Redis (NOSCRIPT) are sent again transparently', async () => {
      const c = sdk(await gateway('t4:', { requestsPerMinute: 3 }));
      await ask(c);
      await inspect.script('FLUSH');
      await ask(c);
      await ask(c);
      expect(await ask(c).catch((e) => e)).toBeInstanceOf(Anthropic.RateLimitError);
    });

    test('a client that leaves while Redis holds up its admission is never sent upstream, and counts as 499', async () => {
      const gw = await gateway('t9:', { requestsPerMinute: 1000 }, undefined, { SWITCHYARD_REDIS_TIMEOUT_MS: '1500' });
      await ask(sdk(gw));
      const sent = fake.received.length;
      const ended = async (match?: Record<string, string>) => (await scrape(adminURL(gw))).sum('switchyard_requests_total', match);
      redis.pause();
      try {
        const body = JSON.stringify({ model: 'claude-test', max_tokens: 10, messages: [{ role: 'user', content: 'Hi' }] });
        const socket = connect(gw.trafficPort, '127.0.0.1');
        socket.on('error', () => undefined);
        socket.write(
          `POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\nx-api-key: ${CLIENT_KEY}\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
        );
        // Admission waits on the stopped Redis (up to the 1.5 s command timeout, then the local store admits).
        await new Promise((r) => setTimeout(r, 500));
        socket.destroy();
        await waitFor(async () => (await ended()) === 2, 15_000, 'the departed request to end');
      } finally {
        redis.resume();
      }
      expect(fake.received.length).toBe(sent);
      expect(await ended({ code: '499' })).toBe(1);
    });

    test('a hung Redis costs a request at most the command timeout; then requests skip it until it answers again', async () => {
      const gw = await gateway('t5:', { requestsPerMinute: 1000 }, undefined, { SWITCHYARD_REDIS_TIMEOUT_MS: '200' });
      const degraded = async () => (await gw.registry.getSingleMetric('switchyard_limit_store_degraded')!.get()).values[0].value;
      const c = sdk(gw);
      await ask(c);
      expect(await degraded()).toBe(0);
      redis.pause();
      try {
        const t0 = Date.now();
        await ask(c); // waits out the 200 ms timeout, then the local store admits it (policy open)
        const first = Date.now() - t0;
        expect(await degraded()).toBe(1);
        const t1 = Date.now();
        for (let i = 0; i < 5; i++) await ask(c); // Redis is skipped for a second after a failure
        expect(first).toBeGreaterThanOrEqual(190);
        expect(first).toBeLessThan(3000);
        expect(Date.now() - t1).toBeLessThan(first * 5);
      } finally {
        redis.resume();
      }
      await waitFor(async () => (await ask(c), (await degraded()) === 0), 10_000, 'Redis to be used again');
      // Counted in Redis again: the bucket's last-write time (Redis clock) moves with each request.
      const written = async () => (await bucket('t5:rl:key:default/team-a', 'rpm')).t;
      const before = await written();
      await waitFor(async () => (await new Promise((r) => setTimeout(r, 5)), await ask(c), (await written()) > before), 10_000, 'a request counted in Redis');
    });
  });

  describe('separate gateway processes', () => {
    let a: GatewayProcess;
    let b: GatewayProcess;
    const OTHER_KEY = 'sk-test-client-key-0002';
    const LIMIT = 6; // per minute: one token refills every 10 s, far longer than a burst here takes

    beforeAll(async () => {
      assertBuilt();
      const file = writeConfig([
        ...simpleConfig(fake.url, { keySpec: { limits: { requestsPerMinute: LIMIT } }, routeSpec: { limits: { maxConcurrent: 10 } } }),
        secret('other', { key: OTHER_KEY }),
        apiKey('team-b', { secretRef: { name: 'other' } }),
      ]);
      // A generous command timeout: on a loaded test machine a slow reply must not look like an outage.
      const env = { SWITCHYARD_REDIS_URL: redis.url, SWITCHYARD_REDIS_PREFIX: 'proc:', SWITCHYARD_REDIS_TIMEOUT_MS: '5000' };
      [a, b] = await Promise.all([spawnGateway(file, env), spawnGateway(file, { ...env, SWITCHYARD_REDIS_FAILURE_POLICY: 'closed' })]);
    }, 60_000);
    afterAll(async () => {
      await Promise.all([a?.stop(), b?.stop()]);
    });

    /** `n` requests, alternating between the two gateways, two at a time; the statuses in order. */
    async function burst(n: number, targets: GatewayProcess[]): Promise<number[]> {
      const out: number[] = [];
      for (let i = 0; i < n; i += targets.length) {
        const rs = await Promise.all(targets.map((t) => postMessage(t.url)));
        for (const r of rs) {
          out.push(r.status);
          await r.arrayBuffer();
        }
      }
      return out;
    }
    const count = (xs: number[], v: number) => xs.filter((x) => x === v).length;
    const warnings = (p: GatewayProcess) => p.logs.filter((l) => String(l.msg).startsWith('redis limit store unavailable')).length;

    test('share one key exactly; Redis dies → open falls back to local limits, closed refuses with 503; Redis returns → exact again', async () => {
      for (const p of [a, b]) await waitFor(async () => (await metric(p.adminURL, 'switchyard_limit_store_degraded')) === 0, 10_000, 'redis connected');

      // 1. Exactly LIMIT across both processes.
      const first = await burst(20, [a, b]);
      expect(count(first, 200)).toBe(LIMIT);
      expect(count(first, 429)).toBe(20 - LIMIT);

      // A stream (another key, no rate limit, but the route's concurrency slot) in flight when Redis dies.
      fake.queue.push({ kind: 'stream', events: textStream('claude-upstream-1', ['x', 'y']), hangAfter: 4 });
      const inflight = new AbortController();
      const streamRes = await fetch(`${a.url}/v1/messages`, {
        method: 'POST',
        signal: inflight.signal,
        headers: { 'content-type': 'application/json', 'x-api-key': OTHER_KEY },
        body: JSON.stringify({ model: 'claude-test', max_tokens: 10, stream: true, messages: [{ role: 'user', content: 'Hi' }] }),
      });
      expect(streamRes.status).toBe(200);
      const reader = streamRes.body!.getReader();
      await reader.read();
      expect(await inspect.zcard('proc:rl:route:default/main:conc')).toBe(1);

      // 2. Redis dies.
      await redis.stop();
      for (const p of [a, b]) await waitFor(async () => (await metric(p.adminURL, 'switchyard_limit_store_degraded')) === 1, 10_000, 'degraded state');
      const open = await burst(LIMIT + 2, [a]);
      expect(count(open, 200)).toBe(LIMIT); // a's own local bucket, undivided (gateways: 1)
      expect(count(open, 429)).toBe(2);
      const closed = await postMessage(b.url);
      expect(closed.status).toBe(503);
      expect(closed.headers.get('retry-after')).toBe('1');
      expect(await closed.json()).toMatchObject({ type: 'error', error: { type: 'overloaded_error', message: 'rate limit store unavailable; retry shortly' } });
      expect(await metric(a.adminURL, 'switchyard_limit_store_fallback_total')).toBe(LIMIT + 2);
      expect(await metric(b.adminURL, 'switchyard_limit_store_fallback_total')).toBe(1);
      // One log line for the outage, however many requests went through it.
      expect(warnings(a)).toBe(1);
      expect(warnings(b)).toBe(1);
      // The stream admitted through Redis ends while Redis is away: its release is dropped, nothing breaks.
      inflight.abort();
      await reader.read().catch(() => undefined);
      for (const p of [a, b]) {
        expect(p.child.exitCode).toBeNull();
        expect((await fetch(`${p.adminURL}/readyz`)).status).toBe(200);
      }

      // 3. Redis returns (empty, as after a restart without persistence): exact limits again.
      await redis.start();
      for (const p of [a, b]) await waitFor(async () => (await metric(p.adminURL, 'switchyard_limit_store_degraded')) === 0, 15_000, 'recovery');
      const again = await burst(20, [a, b]);
      expect(count(again, 200)).toBe(LIMIT);
      expect(count(again, 429)).toBe(20 - LIMIT);
      expect(a.logs.filter((l) => String(l.msg).startsWith('redis limit store available')).length).toBe(2); // start, recovery

      // Both drain and exit 0: the Redis connection does not keep the process alive.
      expect(await Promise.all([a.stop(), b.stop()])).toEqual([0, 0]);
    }, 60_000);

    test("a gateway stopped while Redis is down exits at once, not after the Redis client's disconnect timer", async () => {
      const file = writeConfig(simpleConfig(fake.url, { keySpec: { limits: { requestsPerMinute: 1000 } } }));
      const gw = await spawnGateway(file, { SWITCHYARD_REDIS_URL: redis.url, SWITCHYARD_REDIS_PREFIX: 'down:' });
      try {
        await waitFor(async () => (await metric(gw.adminURL, 'switchyard_limit_store_degraded')) === 0, 10_000, 'redis connected');
        expect((await postMessage(gw.url)).status).toBe(200);
        await redis.stop();
        await waitFor(async () => (await metric(gw.adminURL, 'switchyard_limit_store_degraded')) === 1, 10_000, 'degraded state');
        // ioredis's disconnect() arms a referenced 2 s timer that only the socket's 'close' clears;
        // a socket that closed already never clears it, and the pod would linger past its drain.
        const t0 = Date.now();
        expect(await gw.stop()).toBe(0);
        expect(Date.now() - t0).toBeLessThan(1500);
        expect(gw.logs.filter((l) => l.msg === 'exiting with handles still open')).toEqual([]);
      } finally {
        await gw.stop();
        await redis.start();
      }
    });
  });
});

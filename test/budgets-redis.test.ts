import Anthropic from '@anthropic-ai/sdk';
import type Redis from 'ioredis';
import type { UsageReport } from '../gateway/src/budget/usage';
import { RETAIN_MS } from '../gateway/src/budget/ledger';
import { installFeatures } from '../gateway/src/features';
import type { Gateway } from '../gateway/src/gateway';
import type { K8sObject } from '../gateway/src/config/k8s-object';
import { startFakeAnthropic, type FakeAnthropic, type Script } from './helpers/fake-anthropic';
import { CLIENT_KEY, UPSTREAM_KEY, adminURL, apiKey, baseURL, postMessage, secret, simpleConfig, snapshotOf, startGateway } from './helpers/gateway';
import { assertBuilt, spawnGateway, writeConfig, type GatewayProcess } from './helpers/gateway-process';
import { waitFor } from './helpers/http-server';
import { scrape } from './helpers/prom';
import { startRedis, type RedisServer } from './helpers/redis';

/**
 * Budgets in the Redis store against a real redis-server: one spend counter per key shared by
 * every gateway (in this process with an injected clock, and as separate `switchyard gateway`
 * processes), exact, and kept across gateway restarts.
 */
const OTHER_KEY = 'sk-test-client-key-0002';
const THIRD_KEY = 'sk-test-client-key-0003';
/** Every upstream reply uses 1,000 input tokens: $0.001 at $1 per million. */
const PRICING = { inputPerMTok: 1, outputPerMTok: 0 };
const MILLI: Script = {
  kind: 'message',
  message: { usage: { input_tokens: 1000, output_tokens: 0, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 } },
};

describe('spend budgets (Redis store)', () => {
  let redis: RedisServer;
  let fake: FakeAnthropic;
  let inspect: Redis;
  let file: string;

  const world = (): K8sObject[] => [
    ...simpleConfig(fake.url, { keySpec: { budget: { usd: 0.01, period: 'month' } }, routeSpec: { pricing: PRICING } }),
    secret('other', { key: OTHER_KEY }),
    apiKey('team-b', { secretRef: { name: 'other' }, budget: { usd: 1, period: 'day', timezone: 'Asia/Tokyo' } }),
    secret('third', { key: THIRD_KEY }),
    apiKey('team-c', { secretRef: { name: 'third' } }),
  ];
  const usageAt = async (admin: string): Promise<UsageReport> => {
    const res = await fetch(`${admin}/admin/usage`, { headers: { authorization: 'Bearer admin-token' } });
    if (res.status !== 200) throw new Error(`/admin/usage answered ${res.status}: ${await res.text()}`);
    return (await res.json()) as UsageReport;
  };
  const keyAt = async (admin: string, name = 'default/team-a') => (await usageAt(admin)).keys.find((k) => k.name === name)!;

  beforeAll(async () => {
    redis = await startRedis();
    fake = await startFakeAnthropic();
    fake.fallback = () => MILLI;
    inspect = redis.client();
  });
  afterAll(async () => {
    await redis?.close();
    await fake?.close();
  });

  describe('in-process gateways with an injected clock', () => {
    const gws: Gateway[] = [];
    let clock: number;
    afterEach(async () => {
      for (const g of gws.splice(0)) await g.close();
    });
    async function gateway(prefix: string, env: Record<string, string> = {}): Promise<Gateway> {
      // gateways: 2 in the snapshot, which the Redis store ignores: the budget is global.
      const gw = await startGateway(snapshotOf(world(), 2), { now: () => clock });
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
    const ask = (gw: Gateway) => sdk(gw).messages.create({ model: 'claude-test', max_tokens: 10, messages: [{ role: 'user', content: 'Hi' }] });

    test('two gateways share one budget: the whole budget, not a share; refused with 403 on both; a new period admits again', async () => {
      clock = Date.parse('2026-03-23T10:00:00Z');
      const a = await gateway('b1:');
      const b = await gateway('b1:');
      fake.queue.push({
        kind: 'message',
        message: { usage: { input_tokens: 9000, output_tokens: 0, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 } },
      }); // $0.009
      await ask(a);
      await waitFor(async () => (await keyAt(adminURL(b))).requests === 1, 5000, 'the spend, seen from the other gateway');
      await ask(b); // $0.009 < $0.01: admitted (global, undivided), ends at $0.01
      await waitFor(async () => (await keyAt(adminURL(a))).requests === 2, 5000, 'both requests settled');
      for (const gw of [a, b]) {
        const err = await ask(gw).catch((e) => e);
        expect(err).toBeInstanceOf(Anthropic.PermissionDeniedError);
        expect(err.error.error.message).toBe('budget exhausted: ApiKey default/team-a spent $0.01 of its $0.01 monthly budget; resets at 2026-04-01T00:00:00Z');
      }
      const ua = await usageAt(adminURL(a));
      expect(ua).toMatchObject({ store: 'global', gateways: 1 });
      expect(ua.keys.find((k) => k.name === 'default/team-a')).toEqual(
        expect.objectContaining({
          period: '2026-03',
          spentUSD: 0.01,
          budgetUSD: 0.01,
          enforcedUSD: 0.01,
          remainingUSD: 0,
          requests: 2,
          inputTokens: 10_000,
          outputTokens: 0,
        }),
      );
      expect((await usageAt(adminURL(b))).keys).toEqual(ua.keys);
      // Every pod reports the fleet's figures, which a dashboard must not add up (see switchyard_limit_store_info).
      for (const gw of [a, b]) {
        const m = await scrape(adminURL(gw));
        expect([
          m.samples.get('switchyard_budget_usd{api_key="default/team-a"}'),
          m.samples.get('switchyard_budget_remaining_usd{api_key="default/team-a"}'),
          m.samples.get('switchyard_limit_store_info{store="redis"}'),
        ]).toEqual([0.01, 0, 1]);
      }

      // One key per ApiKey for its period counters, named by the ApiKey, kept a day past the period.
      const keys = (await inspect.keys('b1:*')).sort();
      expect(keys).toEqual(['b1:rl:usage:default/team-a']);
      const digest = [...a.table!.keys][0].sha256;
      for (const k of keys) for (const s of [CLIENT_KEY, UPSTREAM_KEY, digest]) expect(k).not.toContain(s);
      const ttl = await inspect.pttl('b1:rl:usage:default/team-a');
      const toEnd = Date.parse('2026-04-01T00:00:00Z') - clock;
      expect(ttl).toBeGreaterThan(toEnd + RETAIN_MS - 60_000);
      expect(ttl).toBeLessThanOrEqual(toEnd + RETAIN_MS + 1000);

      clock = Date.parse('2026-04-01T00:00:00Z');
      await ask(b);
      await ask(a);
      await waitFor(async () => (await keyAt(adminURL(a))).requests === 2, 5000, 'April');
      expect(await keyAt(adminURL(b))).toMatchObject({ period: '2026-04', spentUSD: 0.002 });
    });

    test('reading usage is one script call, whatever the number of keys', async () => {
      clock = Date.parse('2026-03-23T10:00:00Z');
      const a = await gateway('b2:');
      await ask(a);
      await waitFor(async () => (await keyAt(adminURL(a))).requests === 1, 5000, 'settled');
      const evalsha = async () => Number(/cmdstat_evalsha:calls=(\d+)/.exec(await inspect.info('commandstats'))?.[1] ?? 0);
      await inspect.config('RESETSTAT');
      const u = await usageAt(adminURL(a));
      expect(u.keys).toHaveLength(3);
      expect(await evalsha()).toBe(1);
    });

    test('a key without budget or limits is counted in Redis too (no admission call, only the settlement)', async () => {
      clock = Date.parse('2026-03-23T10:00:00Z');
      const a = await gateway('b4:');
      const b = await gateway('b4:');
      const plain = new Anthropic({ baseURL: baseURL(a), apiKey: THIRD_KEY, maxRetries: 0 });
      await plain.messages.create({ model: 'claude-test', max_tokens: 10, messages: [{ role: 'user', content: 'Hi' }] });
      await waitFor(async () => (await keyAt(adminURL(b), 'default/team-c')).requests === 1, 5000, 'the other gateway to see it');
      expect(await keyAt(adminURL(b), 'default/team-c')).toMatchObject({ period: '2026-03', budgetUSD: null, spentUSD: 0.001, inputTokens: 1000 });
      expect(await inspect.keys('b4:*')).toEqual(['b4:rl:usage:default/team-c']);
    });

    test('spend counted by the local store while Redis hangs or is down reaches Redis when it answers again', async () => {
      clock = Date.parse('2026-03-23T10:00:00Z');
      const a = await gateway('b6:', { SWITCHYARD_REDIS_TIMEOUT_MS: '200' });
      await ask(a);
      await waitFor(async () => (await keyAt(adminURL(a))).requests === 1, 5000, 'the first request in Redis');
      redis.pause();
      try {
        await ask(a); // the admission times out; the local store admits (policy open)
        await ask(a); // Redis is skipped for a moment after a failure
      } finally {
        redis.resume();
      }
      // No request needed: the gateway sends what it owes once Redis answers.
      // (Usage reads answer 503 for the moment Redis is skipped after the failure.)
      await waitFor(async () => (await keyAt(adminURL(a)).catch(() => undefined))?.requests === 3, 10_000, 'the hung period carried over');
      expect(await keyAt(adminURL(a))).toMatchObject({ spentUSD: 0.003, inputTokens: 3000 });

      await redis.stop(); // no persistence: Redis comes back empty
      try {
        await ask(a);
      } finally {
        await redis.start();
      }
      await waitFor(async () => (await keyAt(adminURL(a)).catch(() => undefined))?.requests === 1, 10_000, 'the outage carried over');
      expect(await keyAt(adminURL(a))).toMatchObject({ spentUSD: 0.001, inputTokens: 1000 });
    });

    test('Redis unavailable: /admin/usage answers 503 rather than a per-pod figure', async () => {
      clock = Date.parse('2026-03-23T10:00:00Z');
      const a = await gateway('b3:');
      await redis.stop();
      try {
        await waitFor(
          async () => (await fetch(`${adminURL(a)}/admin/usage`, { headers: { authorization: 'Bearer admin-token' } })).status === 503,
          5000,
          '503',
        );
      } finally {
        await redis.start();
      }
      await waitFor(
        async () => (await fetch(`${adminURL(a)}/admin/usage`, { headers: { authorization: 'Bearer admin-token' } })).status === 200,
        10_000,
        'Redis back',
      );
    });
  });

  describe('separate gateway processes', () => {
    const procs: GatewayProcess[] = [];
    const env = () => ({
      SWITCHYARD_REDIS_URL: redis.url,
      SWITCHYARD_REDIS_PREFIX: 'bp:',
      SWITCHYARD_REDIS_TIMEOUT_MS: '5000',
      SWITCHYARD_ADMIN_TOKEN: 'admin-token',
      SWITCHYARD_ACCESS_LOG: 'off',
    });
    beforeAll(async () => {
      assertBuilt();
      file = writeConfig(world());
      procs.push(...(await Promise.all([spawnGateway(file, env()), spawnGateway(file, env())])));
    }, 60_000);
    afterAll(async () => {
      await Promise.all(procs.map((p) => p.stop()));
    });

    test('share one budget exactly: $0.001 a request, the eleventh is refused on both; the spend survives a gateway restart', async () => {
      const [a, b] = procs;
      for (let i = 1; i <= 10; i++) {
        const [from, other] = i % 2 ? [a, b] : [b, a];
        const res = await postMessage(from.url);
        expect(res.status).toBe(200);
        await res.arrayBuffer();
        // Each request's spend is visible from the other process before the next one is sent.
        await waitFor(async () => (await keyAt(other.adminURL)).requests === i, 5000, `request ${i} seen by the other gateway`);
      }
      const ua = await keyAt(a.adminURL);
      expect(ua).toMatchObject({ spentUSD: 0.01, requests: 10, inputTokens: 10_000, remainingUSD: 0 });
      expect(await keyAt(b.adminURL)).toEqual(ua);
      for (const p of [a, b]) {
        const res = await postMessage(p.url);
        expect(res.status).toBe(403);
        expect(await res.json()).toMatchObject({
          type: 'error',
          error: {
            type: 'permission_error',
            message: `budget exhausted: ApiKey default/team-a spent $0.01 of its $0.01 monthly budget; resets at ${ua.resetsAt}`,
          },
        });
      }

      // A restarted gateway finds the spend where it was.
      expect(await a.stop()).toBe(0);
      const again = await spawnGateway(file, env());
      procs[0] = again;
      expect(await keyAt(again.adminURL)).toEqual(ua);
      expect((await postMessage(again.url)).status).toBe(403);
    });

    test('concurrent requests on both processes are all counted, none twice', async () => {
      const [a, b] = procs;
      const statuses = await Promise.all(
        Array.from({ length: 24 }, (_, i) => postMessage((i % 2 ? a : b).url, OTHER_KEY).then(async (r) => (await r.arrayBuffer(), r.status))),
      );
      expect(statuses.every((s) => s === 200)).toBe(true);
      await waitFor(async () => (await keyAt(a.adminURL, 'default/team-b')).requests === 24, 5000, 'all settled');
      const u = await keyAt(b.adminURL, 'default/team-b');
      expect(u).toMatchObject({ spentUSD: 0.024, requests: 24, inputTokens: 24_000, budgetUSD: 1, timezone: 'Asia/Tokyo', periodKind: 'day' });
      expect(u.resetsAt).toMatch(/T00:00:00\+09:00$/);
    });
  });
});

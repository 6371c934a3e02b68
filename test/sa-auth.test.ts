import Anthropic from '@anthropic-ai/sdk';
import { createHash } from 'node:crypto';
import { ServiceAccountTokens } from '../gateway/src/api/sa-tokens';
import { snapshotError } from '../gateway/src/config/schema';
import { compile } from '../gateway/src/config/compile';
import type { Gateway } from '../gateway/src/gateway';
import type { ConfigSnapshot } from '../gateway/src/config/snapshot';
import { withServiceAccountAuth } from '../gateway/src/config/service-account-auth';
import { installTelemetry } from '../gateway/src/telemetry';
import { installFeatures } from '../gateway/src/features';
import type { K8sObject } from '../gateway/src/config/k8s-object';
import { startFakeAnthropic, type FakeAnthropic } from './helpers/fake-anthropic';
import { CLIENT_KEY, UPSTREAM_KEY, adminURL, apiKey, baseURL, secret, simpleConfig, snapshotOf, startGateway } from './helpers/gateway';
import { waitFor } from './helpers/http-server';
import { SPAN_KIND, startOtlpReceiver } from './helpers/otlp-receiver';
import { scrape } from './helpers/prom';
import { ISSUER, jwksOf, mintToken, signingKey, type MintOptions, type SigningKey } from './helpers/sa-issuer';

/**
 * ServiceAccount tokens on the traffic port: tokens minted by the test with its own key pairs,
 * the issuer's keys in the snapshot as the operator (or the standalone CLI) puts them, real HTTP,
 * a clock injected into the gateway so expiry is exact.
 */
describe('ServiceAccount token authentication', () => {
  let fake: FakeAnthropic;
  let gw: Gateway | undefined;
  let keyA: SigningKey;
  let keyB: SigningKey;
  let clock = Date.parse('2026-03-23T10:00:00Z');
  const nowS = () => Math.floor(clock / 1000);
  let lines: string[] = [];

  beforeAll(async () => {
    fake = await startFakeAnthropic();
    [keyA, keyB] = await Promise.all([signingKey('key-a'), signingKey('key-b', 'ES256')]);
  });
  afterAll(async () => {
    await fake.close();
  });
  afterEach(async () => {
    await gw?.close();
    gw = undefined;
    fake.queue.length = 0;
  });

  /** team-a/support-bot is admitted by ApiKey team-a/support-bot, which also has a plain key; team-b's whole namespace by team-b/everyone. */
  const world = (keySpec: object = {}): K8sObject[] => [
    ...simpleConfig(fake.url).filter((o) => o.kind !== 'ApiKey'),
    secret('client', { key: CLIENT_KEY }, 'team-a'),
    apiKey(
      'support-bot',
      {
        secretRef: { name: 'client' },
        serviceAccounts: [
          { namespace: 'team-a', name: 'support-bot' },
          { namespace: 'team-a', name: 'batch' },
        ],
        ...keySpec,
      },
      'team-a',
    ),
    apiKey('everyone', { serviceAccounts: [{ namespace: 'team-b', name: '*' }] }, 'team-b'),
    apiKey('reporter', { serviceAccounts: [{ namespace: 'team-b', name: 'reporter' }] }, 'team-b'),
  ];
  const snap = (objects: K8sObject[], ...keys: SigningKey[]): ConfigSnapshot =>
    withServiceAccountAuth(snapshotOf(objects), { issuer: ISSUER, audience: 'switchyard', jwks: jwksOf(...keys) });

  const start = async (s: ConfigSnapshot, env: Record<string, string> = {}) => {
    lines = [];
    gw = await startGateway(s, { now: () => clock });
    installTelemetry(gw, {}, { accessLogSink: (l) => void lines.push(l) });
    if (Object.keys(env).length) await installFeatures(gw, { ...env, SWITCHYARD_ACCESS_LOG: 'off', SWITCHYARD_METRICS: 'off' });
    return gw;
  };
  const mint = (key: SigningKey, o: MintOptions = {}) => mintToken(key, { now: nowS(), ...o });
  const post = (token: string, header: 'x-api-key' | 'authorization' = 'x-api-key') =>
    fetch(`${baseURL(gw!)}/v1/messages`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'anthropic-version': '2023-06-01',
        ...(header === 'x-api-key' ? { 'x-api-key': token } : { authorization: `Bearer ${token}` }),
      },
      body: JSON.stringify({ model: 'claude-test', max_tokens: 10, messages: [{ role: 'user', content: 'Hi' }] }),
    });
  const refused = async (token: string, message: string | RegExp) => {
    const res = await post(token);
    const text = await res.text();
    expect(res.status).toBe(401);
    expect(res.headers.get('request-id')).toMatch(/^req_/);
    expect(text).not.toContain(token);
    expect(text).not.toContain(token.split('.')[2]);
    const body = JSON.parse(text);
    expect(body.type).toBe('error');
    expect(body.error.type).toBe('authentication_error');
    expect(body.error.message).toMatch(message);
    return body;
  };
  const lastLog = () => JSON.parse(lines[lines.length - 1]);

  test('a valid projected token is admitted as x-api-key or Bearer, attributed to its ApiKey; the log and metrics name the ServiceAccount and never the token', async () => {
    await start(snap(world(), keyA));
    const token = await mint(keyA);
    for (const header of ['x-api-key', 'authorization'] as const) {
      const res = await post(token, header);
      expect(res.status).toBe(200);
      await res.text();
      expect(fake.last().headers['x-api-key']).toBe(UPSTREAM_KEY);
      expect(fake.last().headers.authorization).toBeUndefined();
      await waitFor(() => lines.length > 0, 5000, 'access log line');
      expect(lastLog()).toMatchObject({ status: 200, api_key: 'team-a/support-bot', service_account: 'team-a/support-bot' });
    }
    const metrics = await scrape(adminURL(gw!));
    expect(metrics.sum('switchyard_requests_total', { api_key: 'team-a/support-bot', code: '200' })).toBe(2);
    for (const t of [metrics.text, lines.join('\n'), JSON.stringify(fake.received.map((r) => r.headers))]) {
      expect(t).not.toContain(token);
      expect(t).not.toContain(token.split('.')[2]);
    }
    // The plain API key of the same ApiKey still works, and has no ServiceAccount.
    const res = await post(CLIENT_KEY);
    expect(res.status).toBe(200);
    await res.text();
    expect(lastLog()).toMatchObject({ api_key: 'team-a/support-bot', service_account: null });
  });

  test('the server span names the ServiceAccount (switchyard.service_account) beside the ApiKey, and no span carries the token', async () => {
    const otlp = await startOtlpReceiver();
    try {
      gw = await startGateway(snap(world(), keyA), { now: () => clock });
      installTelemetry(
        gw,
        { OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_BSP_SCHEDULE_DELAY: '50' },
        { accessLogSink: () => undefined },
      );
      const token = await mint(keyA, { name: 'batch' });
      expect((await post(token, 'authorization')).status).toBe(200);
      const span = await waitFor(() => otlp.spans.find((x) => x.kind === SPAN_KIND.SERVER), 10_000, 'server span');
      expect(span.attributes).toMatchObject({ 'switchyard.api_key': 'team-a/support-bot', 'switchyard.service_account': 'team-a/batch' });
      expect(JSON.stringify(otlp.spans, (_k, v) => (typeof v === 'bigint' ? String(v) : v))).not.toContain(token.split('.')[2]);
    } finally {
      await gw?.close();
      gw = undefined;
      await otlp.close();
    }
  });

  test('refusals say why (expired, not yet valid, audience, issuer, signature, legacy, unknown ServiceAccount), are 401 with a request-id, never echo the token, and are counted', async () => {
    await start(snap(world(), keyA));
    const upstreamBefore = fake.received.length;
    await refused(await mint(keyA, { expiresIn: -120 }), 'ServiceAccount token expired');
    await refused(await mint(keyA, { notBefore: 600 }), 'ServiceAccount token is not yet valid');
    await refused(
      await mint(keyA, { audience: ['https://kubernetes.default.svc'] }),
      "ServiceAccount token is for another audience (this gateway accepts 'switchyard')",
    );
    await refused(
      await mint(keyA, { issuer: 'https://other-cluster.example' }),
      `ServiceAccount token is from another issuer (this gateway accepts '${ISSUER}')`,
    );
    // Signed by another private key that claims keyA's kid.
    const impostor = { ...(await signingKey('key-a')), kid: 'key-a' };
    await refused(await mint(impostor), 'ServiceAccount token signature is invalid');
    await refused(await mint(keyA, { legacy: true }), /^legacy ServiceAccount token \(Secret-based, no expiry\) refused/);
    await refused(await mint(keyA, { namespace: 'team-c', name: 'web' }), 'ServiceAccount team-c/web is not admitted by any ApiKey');
    await refused(await mint(keyA, { namespace: 'team-a', name: 'web' }), 'ServiceAccount team-a/web is not admitted by any ApiKey');
    expect(fake.received).toHaveLength(upstreamBefore);
    expect((await scrape(adminURL(gw!))).sum('switchyard_requests_total', { code: '401' })).toBe(8);
    expect(lines.map((l) => JSON.parse(l).status)).toEqual(Array(8).fill(401));
  });

  test('a token that was valid expires with its exp even though its verdict is cached, within the clock-skew allowance only', async () => {
    await start(snap(world(), keyA));
    const token = await mint(keyA, { expiresIn: 600 });
    expect((await post(token)).status).toBe(200);
    clock += 599_000;
    expect((await post(token)).status).toBe(200);
    clock += 2_000; // past exp: the cached verdict is dropped; jose allows 30 s of skew
    expect((await post(token)).status).toBe(200);
    clock += 60_000;
    await refused(token, 'ServiceAccount token expired');
  });

  test('a token signed with a key the gateway does not know is refused until the keys are refreshed, then admitted', async () => {
    await start(snap(world(), keyA));
    const token = await mint(keyB);
    await refused(token, /signed with a key this gateway does not know yet/);
    gw!.apply(snap(world(), keyA, keyB));
    expect((await post(token)).status).toBe(200);
  });

  test('key rotation: tokens of the old and the new key are both admitted while both are published; withdrawing the old key stops its tokens at once, cached or not', async () => {
    await start(snap(world(), keyA, keyB));
    const oldToken = await mint(keyA);
    const newToken = await mint(keyB, { name: 'batch' });
    expect((await post(oldToken)).status).toBe(200);
    expect((await post(newToken)).status).toBe(200);
    gw!.apply(snap(world(), keyB));
    await refused(oldToken, /signed with a key this gateway does not know yet/);
    expect((await post(newToken)).status).toBe(200);
  });

  test('a namespace wildcard admits every ServiceAccount of the namespace; an exact entry in another ApiKey wins over it', async () => {
    await start(snap(world(), keyA));
    for (const [name, key] of [
      ['anything', 'team-b/everyone'],
      ['reporter', 'team-b/reporter'],
    ]) {
      const res = await post(await mint(keyA, { namespace: 'team-b', name }));
      expect(res.status).toBe(200);
      await res.text();
      expect(lastLog()).toMatchObject({ api_key: key, service_account: `team-b/${name}` });
    }
  });

  test('limits apply per ApiKey: two ServiceAccounts and the plain key of one ApiKey share its requestsPerMinute', async () => {
    await start(snap(world({ limits: { requestsPerMinute: 3 } }), keyA), { SWITCHYARD_LIMITS_STORE: 'local' });
    const bot = await mint(keyA);
    const batch = await mint(keyA, { name: 'batch' });
    expect((await post(bot)).status).toBe(200);
    expect((await post(batch)).status).toBe(200);
    expect((await post(CLIENT_KEY)).status).toBe(200);
    const res = await post(batch);
    expect(res.status).toBe(429);
    expect(((await res.json()) as any).error.type).toBe('rate_limit_error');
    // Another ApiKey is untouched.
    expect((await post(await mint(keyA, { namespace: 'team-b', name: 'x' }))).status).toBe(200);
  });

  test('budgets apply per ApiKey: spend by one ServiceAccount exhausts the budget for every caller of that ApiKey', async () => {
    const objects = world({ budget: { usd: 0.01, period: 'month' } }).map((o) =>
      o.kind === 'ModelRoute' ? { ...o, spec: { ...o.spec, pricing: { inputPerMTok: 3, outputPerMTok: 15 } } } : o,
    );
    await start(snap(objects, keyA), { SWITCHYARD_LIMITS_STORE: 'local' });
    const reply = { kind: 'message' as const, message: { usage: { input_tokens: 1000, output_tokens: 400 } } }; // $0.009
    fake.queue.push(reply, reply);
    const bot = await mint(keyA);
    const usage = async () =>
      ((await (await fetch(`${adminURL(gw!)}/admin/usage`, { headers: { authorization: 'Bearer admin-token' } })).json()) as any).keys.find(
        (k: any) => k.name === 'team-a/support-bot',
      );
    expect((await post(bot)).status).toBe(200);
    await waitFor(async () => (await usage()).requests >= 1, 5000, 'first request settled');
    expect((await post(bot)).status).toBe(200);
    await waitFor(async () => (await usage()).requests >= 2, 5000, 'second request settled');
    const res = await post(await mint(keyA, { name: 'batch' }));
    expect(res.status).toBe(403);
    expect(((await res.json()) as any).error.message).toMatch(/^budget exhausted: ApiKey team-a\/support-bot/);
  });

  test('without ServiceAccount auth configured, a JWT is just an unknown API key', async () => {
    await start(snapshotOf(world()));
    const res = await post(await mint(keyA));
    expect(res.status).toBe(401);
    expect(((await res.json()) as any).error.message).toBe('invalid x-api-key');
  });

  test('the official SDK authenticates with a token it re-reads (authToken → Authorization: Bearer)', async () => {
    await start(snap(world(), keyA));
    const client = new Anthropic({ baseURL: baseURL(gw!), authToken: await mint(keyA), apiKey: null, maxRetries: 0 });
    const msg = await client.messages.create({ model: 'claude-test', max_tokens: 10, messages: [{ role: 'user', content: 'Hi' }] });
    expect(msg.type).toBe('message');
    expect(lastLog()).toMatchObject({ service_account: 'team-a/support-bot' });
  });
});

describe('ServiceAccount token verdict cache', () => {
  test('a verified token is found by its digest until exp; the cache stays bounded, evicting expired verdicts before live ones', async () => {
    const key = await signingKey('k');
    let now = Date.parse('2026-03-23T10:00:00Z');
    const tokens = new ServiceAccountTokens({ issuer: ISSUER, audience: 'switchyard', jwks: jwksOf(key) }, () => now, 3);
    const digest = (t: string) => createHash('sha256').update(t).digest('hex');
    const mintAt = (name: string, expiresIn: number) => mintToken(key, { name, now: Math.floor(now / 1000), expiresIn });
    const short = await mintAt('short', 60);
    const long1 = await mintAt('long-1', 3600);
    const long2 = await mintAt('long-2', 3600);
    for (const t of [short, long1, long2]) await tokens.verify(t, digest(t));
    expect(tokens.cached(digest(long1))).toMatchObject({ namespace: 'team-a', name: 'long-1' });
    expect(tokens.size).toBe(3);
    now += 120_000; // `short` expired: the next verdict takes its place, the live ones stay
    const long3 = await mintAt('long-3', 3600);
    await tokens.verify(long3, digest(long3));
    expect([short, long1, long2, long3].map((t) => tokens.cached(digest(t))?.name)).toEqual([undefined, 'long-1', 'long-2', 'long-3']);
    // Full of live verdicts: the oldest goes.
    const long4 = await mintAt('long-4', 3600);
    await tokens.verify(long4, digest(long4));
    expect(tokens.size).toBe(3);
    expect(tokens.cached(digest(long1))).toBeUndefined();
    expect(tokens.cached(digest(long4))?.name).toBe('long-4');
    // A refusal is never cached.
    const expired = await mintAt('old', -600);
    await expect(tokens.verify(expired, digest(expired))).rejects.toThrow('ServiceAccount token expired');
    expect(tokens.cached(digest(expired))).toBeUndefined();
  });
});

describe('compile: ApiKey.spec.serviceAccounts', () => {
  const sa = (name: string, serviceAccounts: object[], extra: object = {}, ns = 'team-a', created = '2026-01-01T00:00:00Z') => {
    const o = apiKey(name, { serviceAccounts, ...extra }, ns);
    o.metadata.creationTimestamp = created;
    return o;
  };
  const run = (keys: K8sObject[]) => compile({ routes: [], keys, secrets: [secret('client', { key: CLIENT_KEY }, 'team-a')], serial: 1 });

  test('a ServiceAccount-only key has no digest; one claimed by two ApiKeys goes to the older; a key with neither credential is rejected', () => {
    const { snapshot, results } = run([
      sa('bot', [
        { namespace: 'team-a', name: 'bot' },
        { namespace: 'team-b', name: '*' },
      ]),
      sa('both', [{ namespace: 'team-a', name: 'batch' }], { secretRef: { name: 'client' } }),
      sa('late', [{ namespace: 'team-b', name: '*' }], {}, 'team-a', '2026-02-01T00:00:00Z'),
      sa('dup', [
        { namespace: 'team-a', name: 'x' },
        { namespace: 'team-a', name: 'x' },
      ]),
      apiKey('none', { allowedModels: [] }, 'team-a'),
    ]);
    const by = Object.fromEntries(results.map((r) => [r.key, r]));
    expect(by['team-a/bot']).toMatchObject({ accepted: true, message: 'admits ServiceAccount(s) team-a/bot, team-b/*' });
    expect(by['team-a/both']).toMatchObject({ accepted: true, message: 'key is valid; admits ServiceAccount(s) team-a/batch' });
    expect(by['team-a/late']).toMatchObject({
      accepted: false,
      reason: 'DuplicateServiceAccount',
      message: 'spec.serviceAccounts: ServiceAccount team-b/* is already admitted by ApiKey team-a/bot',
    });
    expect(by['team-a/dup']).toMatchObject({ accepted: false, reason: 'InvalidSpec', message: 'spec.serviceAccounts: entries must be unique' });
    expect(by['team-a/none']).toMatchObject({ accepted: false, reason: 'InvalidSpec', message: 'spec: set secretRef, serviceAccounts or both' });
    expect(snapshot.keys.map((k) => [k.name, !!k.sha256, k.serviceAccounts?.length])).toEqual([
      ['team-a/bot', false, 2],
      ['team-a/both', true, 1],
    ]);
    expect(snapshotError(snapshot)).toBeNull();
    expect(snapshotError(withServiceAccountAuth(snapshot, { issuer: ISSUER, audience: 'switchyard', jwks: { keys: [{ kty: 'RSA' }] } }))).toBeNull();
  });

  test('the issuer keys are part of the snapshot version: a rotation is a new configuration', () => {
    const { snapshot } = run([sa('bot', [{ namespace: 'team-a', name: 'bot' }])]);
    const auth = (kid: string) => ({ issuer: ISSUER, audience: 'switchyard', jwks: { keys: [{ kty: 'RSA', kid }] } });
    const versions = [
      snapshot,
      withServiceAccountAuth(snapshot, auth('a')),
      withServiceAccountAuth(snapshot, auth('b')),
      withServiceAccountAuth(snapshot, auth('a')),
    ].map((s) => s.version);
    expect(new Set(versions).size).toBe(3);
    expect(versions[1]).toBe(versions[3]);
  });
});

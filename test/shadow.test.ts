import { openAccount } from '../gateway/src/budget/account';
import { installBudgets } from '../gateway/src/budget/install';
import { compile } from '../gateway/src/config/compile';
import { unknownFields } from '../gateway/src/config/crd-schema';
import type { K8sObject } from '../gateway/src/config/k8s-object';
import type { Gateway } from '../gateway/src/gateway';
import { installLimits } from '../gateway/src/limits/install';
import { installShadowRecords } from '../gateway/src/shadow/install';
import { keyPlace } from '../gateway/src/shadow/sampler';
import type { ShadowUsage } from '../gateway/src/shadow/stats';
import { installTelemetry } from '../gateway/src/telemetry';
import { startFakeAnthropic, textStream, type FakeAnthropic, type Received } from './helpers/fake-anthropic';
import { startFakeBedrock, type FakeBedrock } from './helpers/fake-bedrock';
import { startFakeGemini, type FakeGemini } from './helpers/fake-gemini';
import { startFakeGoogleOAuth, serviceAccountKey, type FakeGoogleOAuth } from './helpers/fake-google-oauth';
import { startFakeVertex, type FakeVertex } from './helpers/fake-vertex';
import { startFakeOpenAI, type FakeOpenAI } from './helpers/fake-openai';
import {
  CLIENT_KEY,
  UPSTREAM_KEY,
  adminURL,
  apiKey,
  baseURL,
  modelRoute,
  postMessage,
  secret,
  simpleConfig,
  snapshotOf,
  startGateway,
} from './helpers/gateway';
import { assertBuilt, writeConfig } from './helpers/gateway-process';
import { startServer, waitFor } from './helpers/http-server';
import { SPAN_KIND, startOtlpReceiver, type OtlpReceiver } from './helpers/otlp-receiver';
import { startGatewayProcess } from './helpers/process';
import { scrape, seriesKey } from './helpers/prom';
import { parseSse } from './helpers/sse-client';

/**
 * Shadow traffic (issue 13) over real HTTP: a primary fake upstream answers the client, shadow
 * fakes (Anthropic, OpenAI, Gemini wire formats) get the copies. What the client sees must be the
 * primary's answer alone, whatever the shadows do; the shadows' records are read back from the
 * access log, /metrics, /admin/usage and an OTLP receiver.
 */
const SHADOW_KEY = 'sk-ant-shadow-secret-7777zz';

describe('shadow traffic', () => {
  let primary: FakeAnthropic;
  let shadowUp: FakeAnthropic;
  let oai: FakeOpenAI;
  let gem: FakeGemini;
  let gw: Gateway | undefined;
  let lines: string[] = [];

  beforeAll(async () => {
    [primary, shadowUp, oai, gem] = await Promise.all([startFakeAnthropic(), startFakeAnthropic(), startFakeOpenAI(), startFakeGemini()]);
  });
  afterAll(async () => {
    await Promise.all([primary, shadowUp, oai, gem].map((f) => f.close()));
  });
  const defaultFallback = (f: FakeAnthropic) => f.fallback;
  let primaryFallback: FakeAnthropic['fallback'];
  let shadowFallback: FakeAnthropic['fallback'];
  beforeAll(() => {
    primaryFallback = defaultFallback(primary);
    shadowFallback = defaultFallback(shadowUp);
  });
  afterEach(async () => {
    await gw?.close();
    gw = undefined;
    lines = [];
    for (const f of [primary, shadowUp]) {
      f.queue.length = 0;
      f.received.length = 0;
    }
    primary.fallback = primaryFallback;
    shadowUp.fallback = shadowFallback;
    oai.received.length = 0;
    gem.received.length = 0;
  });

  const anthropicTarget = (model: string, extra: object = {}) => ({
    provider: 'anthropic',
    model,
    // The configuration tables are built before the fakes start; they never send.
    baseURL: shadowUp?.url ?? 'http://127.0.0.1:9',
    credentialsRef: { name: 'shadow-cred' },
    ...extra,
  });
  const shadow = (name: string, target: object, extra: object = {}) => ({ name, target, percent: 100, ...extra });
  const world = (shadows: object[] | undefined, o: { routeSpec?: object; keySpec?: object } = {}): K8sObject[] => [
    ...simpleConfig(primary.url, { routeSpec: { ...(shadows ? { shadows } : {}), ...o.routeSpec }, keySpec: o.keySpec }),
    secret('shadow-cred', { apiKey: SHADOW_KEY }),
  ];

  /** A gateway with the features `npm start` installs, the access log captured. */
  async function start(objects: K8sObject[], env: Record<string, string> = {}): Promise<Gateway> {
    gw = await startGateway(snapshotOf(objects));
    const tel = installTelemetry(gw, env, { accessLogSink: (l) => lines.push(l) });
    installShadowRecords(gw, tel);
    installBudgets(gw, await installLimits(gw, env, openAccount), tel.metrics);
    return gw;
  }

  const records = () => lines.map((l) => JSON.parse(l));
  const shadowLines = () => records().filter((r) => r.shadow_of);
  const usage = async (): Promise<ShadowUsage[]> => {
    const res = await fetch(`${adminURL(gw!)}/admin/usage`, { headers: { authorization: 'Bearer admin-token' } });
    expect(res.status).toBe(200);
    return ((await res.json()) as { shadows: ShadowUsage[] }).shadows;
  };
  /** Whether the upstream request is still open: its `closed` settles in a microtask if it has already closed, before setImmediate fires. */
  const isOpen = (r: Received) => Promise.race([r.closed.then(() => false), new Promise<boolean>((resolve) => setImmediate(() => resolve(true)))]);
  const post = (body: object, key = CLIENT_KEY, init: RequestInit = {}) =>
    fetch(`${baseURL(gw!)}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': key, 'anthropic-version': '2023-06-01', ...(init.headers as object) },
      body: JSON.stringify({ model: 'claude-test', max_tokens: 50, messages: [{ role: 'user', content: 'Hi' }], ...body }),
      signal: init.signal,
    });

  describe('configuration', () => {
    const compileRoute = (shadows: unknown) =>
      compile({ routes: [world(shadows as object[])[2]], keys: [], secrets: world([])!.filter((o) => o.kind === 'Secret'), serial: 1 });

    test('shadows compile with their credentials resolved and CRD defaults; the revision ignores the secret and follows the settings', () => {
      const { snapshot, results } = compileRoute([
        shadow('gemini-trial', { provider: 'gemini', model: 'gemini-2.5-pro', credentialsRef: { name: 'shadow-cred' } }, { percent: 2.5 }),
      ]);
      expect(results[0]).toMatchObject({ accepted: true, shadows: [{ name: 'gemini-trial' }] });
      expect(results[0].message).toMatch(/and 1 shadow\(s\)$/);
      const s = snapshot.routes[0].shadows![0];
      expect(s).toMatchObject({
        name: 'gemini-trial',
        percent: 2.5,
        sampleBy: 'request',
        timeoutSeconds: 120,
        maxConcurrent: 20,
        target: { provider: 'gemini', model: 'gemini-2.5-pro', baseURL: 'https://generativelanguage.googleapis.com/v1beta', apiKey: SHADOW_KEY },
      });
      expect(s.revision).toMatch(/^[0-9a-f]{12}$/);
      const rotated = compile({
        routes: [world([])[2]].map((r) => ({
          ...r,
          spec: {
            ...r.spec,
            shadows: [shadow('gemini-trial', { provider: 'gemini', model: 'gemini-2.5-pro', credentialsRef: { name: 'shadow-cred' } }, { percent: 2.5 })],
          },
        })),
        keys: [],
        secrets: [secret('shadow-cred', { apiKey: 'another-secret-value' }), secret('upstream', { apiKey: UPSTREAM_KEY })],
        serial: 2,
      });
      expect(rotated.snapshot.routes[0].shadows![0].revision).toBe(s.revision);
      const changed = compileRoute([
        shadow('gemini-trial', { provider: 'gemini', model: 'gemini-2.5-pro', credentialsRef: { name: 'shadow-cred' } }, { percent: 3 }),
      ]);
      expect(changed.snapshot.routes[0].shadows![0].revision).not.toBe(s.revision);
      expect(JSON.stringify(results)).not.toContain(SHADOW_KEY);
    });

    test.each([
      [
        'a duplicate name',
        [shadow('a', anthropicTarget('x')), shadow('a', anthropicTarget('y'))],
        "spec.shadows.1.name: 'a' is already the name of another shadow",
      ],
      ['a name that is not label-safe', [shadow('Bad_Name', anthropicTarget('x'))], 'spec.shadows.0.name: must match pattern'],
      ['percent 0', [shadow('a', anthropicTarget('x'), { percent: 0 })], 'spec.shadows.0.percent: must be > 0'],
      ['percent over 100', [shadow('a', anthropicTarget('x'), { percent: 100.5 })], 'spec.shadows.0.percent: must be <= 100'],
      ['an unknown provider', [shadow('a', { provider: 'bogus', model: 'x' })], 'spec.shadows.0.target.provider: must be one of'],
      [
        'a missing Secret',
        [shadow('a', anthropicTarget('x', { credentialsRef: { name: 'nope' } }))],
        'spec.shadows.0.target.credentialsRef: Secret default/nope not found',
      ],
      ['sampleBy other', [shadow('a', anthropicTarget('x'), { sampleBy: 'user' })], 'spec.shadows.0.sampleBy: must be one of request, apiKey'],
    ])('%s is refused with the field named', (_what, shadows, message) => {
      const { results, snapshot } = compileRoute(shadows);
      expect(results[0].accepted).toBe(false);
      expect(results[0].message).toContain(message);
      expect(snapshot.routes).toEqual([]);
    });

    test('the standalone loader checks shadow targets against the same target schema (typos suggested)', () => {
      const route = world([{ name: 'a', percent: 5, target: { provider: 'openai', modle: 'gpt-4.1' } }])[2];
      expect(unknownFields('ModelRoute', route)).toEqual(['spec.shadows.0.target.modle: unknown field "modle"; did you mean "model"?']);
    });
  });

  describe('sampling', () => {
    test('10% by request over 2000 requests lands within 4 sigma of 200 (binomial); 100% gets all; a route without shadows sends none', async () => {
      const objects = [
        ...world([shadow('ten', anthropicTarget('claude-ten'), { percent: 10 }), shadow('all', anthropicTarget('claude-all'))]),
        modelRoute('plain', {
          model: 'claude-plain',
          targets: [{ provider: 'anthropic', model: 'claude-upstream-1', baseURL: primary.url, credentialsRef: { name: 'upstream' } }],
        }),
      ];
      await start(objects);
      const N = 2000;
      let next = 0;
      const worker = async (model: string, n: number) => {
        while (next < n) {
          next++;
          const r = await post({ model, max_tokens: 5 });
          expect(r.status).toBe(200);
          await r.arrayBuffer();
        }
      };
      await Promise.all(Array.from({ length: 16 }, () => worker('claude-test', N)));
      const count = (m: string) => shadowUp.received.filter((r) => r.body?.model === m).length;
      await waitFor(async () => (await usage()).every((u) => u.inflight === 0) && count('claude-all') === N, 30_000, 'every shadow settled');
      // n = 2000, p = 0.1: mean 200, sigma = sqrt(n p (1 - p)) ≈ 13.4; ±4 sigma fails a correct sampler about once in 16 000 runs.
      const ten = count('claude-ten');
      expect(ten).toBeGreaterThanOrEqual(200 - 4 * 13.42);
      expect(ten).toBeLessThanOrEqual(200 + 4 * 13.42);
      const u = await usage();
      expect(u.find((s) => s.name === 'ten')).toMatchObject({ route: 'default/main', sampled: ten, completed: ten, failed: 0, skipped: 0 });
      expect(u.find((s) => s.name === 'all')).toMatchObject({ sampled: N, completed: N });

      next = 0;
      await Promise.all(Array.from({ length: 8 }, () => worker('claude-plain', 200)));
      expect(primary.received.length).toBe(N + 200);
      expect(shadowUp.received.length).toBe(ten + N);
    }, 120_000);

    test('sampleBy apiKey: a stable subset of callers, all of a key’s requests or none, chosen by the hash of the key name', async () => {
      const keys = Array.from({ length: 12 }, (_, i) => i);
      const objects = [
        ...world([shadow('by-key', anthropicTarget('claude-by-key'), { percent: 50, sampleBy: 'apiKey' })]),
        ...keys.flatMap((i) => [secret(`c${i}`, { key: `sk-test-client-key-k${i}` }), apiKey(`k-${i}`, { secretRef: { name: `c${i}` } })]),
      ];
      await start(objects);
      for (const i of keys) {
        for (let j = 0; j < 4; j++) expect((await post({}, `sk-test-client-key-k${i}`)).status).toBe(200);
      }
      const expected = keys.filter((i) => keyPlace('by-key', `default/k-${i}`) < 50);
      // Neither none nor all of twelve keys: the subset is a real split, not a constant.
      expect(expected.length).toBeGreaterThan(0);
      expect(expected.length).toBeLessThan(keys.length);
      await waitFor(() => shadowLines().length === expected.length * 4, 10_000, 'shadow records');
      const keyOf = new Map(
        records()
          .filter((r) => !r.shadow_of)
          .map((r) => [r.request_id, r.api_key]),
      );
      const perKey = new Map<string, number>();
      for (const l of shadowLines()) perKey.set(keyOf.get(l.shadow_of), (perKey.get(keyOf.get(l.shadow_of)) ?? 0) + 1);
      expect(Object.fromEntries(perKey)).toEqual(Object.fromEntries(expected.map((i) => [`default/k-${i}`, 4])));
      expect(shadowUp.received.length).toBe(expected.length * 4);
    });
  });

  describe('the primary is untouched', () => {
    test('a hanging shadow: the client has its answer while the shadow upstream is still held open; the shadow times out on its own clock', async () => {
      shadowUp.fallback = () => ({ kind: 'hang' });
      await start(world([shadow('stuck', anthropicTarget('claude-shadow'), { timeoutSeconds: 1 })]));
      const res = await postMessage(baseURL(gw!));
      expect(res.status).toBe(200);
      const body = await res.json();
      expect(body).toMatchObject({ type: 'message', model: 'claude-upstream-1', content: [{ type: 'text' }] });
      const sent = await waitFor(() => shadowUp.received[0], 5000, 'the shadow request');
      // The client's response is complete and the shadow is still waiting on its upstream.
      expect(await isOpen(sent)).toBe(true);
      expect(sent.headers['x-api-key']).toBe(SHADOW_KEY);
      expect(sent.body.model).toBe('claude-shadow');
      const line = await waitFor(() => shadowLines()[0], 10_000, 'the shadow timing out');
      expect(line).toMatchObject({ shadow: 'stuck', outcome: 'timeout', error_type: 'timeout_error', status: null, shadow_of: res.headers.get('request-id') });
      expect(line.duration_ms).toBeGreaterThanOrEqual(900);
      expect(await sent.closed).toEqual({ aborted: true });
      expect(await usage()).toEqual([expect.objectContaining({ name: 'stuck', sampled: 1, completed: 0, failed: 1, inflight: 0 })]);
    });

    test('a stream with a shadow whose stream hangs mid-way: the client’s stream ends with message_stop while the shadow is still open', async () => {
      shadowUp.fallback = (r) => ({ kind: 'stream', events: textStream(r.body.model, ['Sha', 'dow']), hangAfter: 4 });
      await start(world([shadow('stuck', anthropicTarget('claude-shadow'), { timeoutSeconds: 2 })]));
      const res = await post({ stream: true });
      const events = parseSse(await res.text());
      expect(events.at(-1)!.event).toBe('message_stop');
      expect(events.filter((e) => e.event === 'error')).toEqual([]);
      const sent = await waitFor(() => shadowUp.received[0], 5000, 'the shadow request');
      expect(await isOpen(sent)).toBe(true);
      const line = await waitFor(() => shadowLines()[0], 10_000, 'the shadow timing out');
      expect(line).toMatchObject({ outcome: 'timeout', stream: true, status: 200 });
      expect(line.ttft_ms).not.toBeNull(); // one delta came before it hung
    });

    test('failing shadows (an error reply, a refused connection) never reach the client, and are recorded', async () => {
      const dead = await startServer(() => undefined);
      const deadURL = dead.url;
      await dead.close();
      shadowUp.queue.push({ kind: 'error', status: 500, type: 'api_error', message: 'shadow broke' });
      await start(world([shadow('errs', anthropicTarget('claude-shadow')), shadow('gone', anthropicTarget('claude-gone', { baseURL: deadURL }))]));
      const res = await postMessage(baseURL(gw!));
      expect(res.status).toBe(200);
      expect(((await res.json()) as any).content[0].text).toBeDefined();
      await waitFor(() => shadowLines().length === 2, 10_000, 'both shadows');
      const by = Object.fromEntries(shadowLines().map((l) => [l.shadow, l]));
      expect(by.errs).toMatchObject({ outcome: 'error', status: 500, error_type: 'api_error' });
      expect(by.gone).toMatchObject({ outcome: 'failure', status: null, error_type: 'connect' });
      const primaryLine = records().find((r) => !r.shadow_of)!;
      expect(primaryLine).toMatchObject({ status: 200, error_type: null, attempts: [{ outcome: 'ok' }] });
    });

    test('the client leaving does not cancel the shadow', async () => {
      primary.queue.push({ kind: 'hang' });
      shadowUp.queue.push({ kind: 'message', delayMs: 300 });
      await start(world([shadow('keeps-going', anthropicTarget('claude-shadow'))]));
      const ac = new AbortController();
      const pending = post({}, CLIENT_KEY, { signal: ac.signal }).catch((e) => e);
      await waitFor(() => primary.received.length === 1 && shadowUp.received.length === 1, 5000, 'both upstream requests');
      ac.abort();
      await pending;
      const line = await waitFor(() => shadowLines()[0], 10_000, 'the shadow');
      expect(line).toMatchObject({ outcome: 'ok', status: 200, stop_reason: 'end_turn' });
      expect(await shadowUp.received[0].closed).toEqual({ aborted: false });
      await waitFor(() => records().find((r) => !r.shadow_of), 5000, 'the primary record');
      expect(records().find((r) => !r.shadow_of)).toMatchObject({ status: 499, client_aborted: true });
    });

    test('limits and budgets: shadows take nothing from the caller’s rate limits or spend; their cost is counted on its own', async () => {
      const pricing = { inputPerMTok: 3, outputPerMTok: 15 };
      await start(
        world([shadow('priced', anthropicTarget('claude-shadow', { pricing: { inputPerMTok: 100, outputPerMTok: 1000 } }))], {
          routeSpec: { pricing, limits: { requestsPerMinute: 2 } },
          keySpec: { limits: { requestsPerMinute: 2, inputTokensPerMinute: 30 }, budget: { usd: 1, period: 'month' } },
        }),
      );
      expect((await postMessage(baseURL(gw!))).status).toBe(200);
      const second = await postMessage(baseURL(gw!));
      expect(second.status).toBe(200);
      expect(second.headers.get('anthropic-ratelimit-requests-remaining')).toBe('0');
      await waitFor(() => shadowLines().length === 2, 10_000, 'both shadows');
      const third = await postMessage(baseURL(gw!));
      expect(third.status).toBe(429);
      const res = await fetch(`${adminURL(gw!)}/admin/usage`, { headers: { authorization: 'Bearer admin-token' } });
      const report = (await res.json()) as { keys: Array<Record<string, unknown>>; shadows: ShadowUsage[] };
      // textMessage's usage: 12 input and 6 output tokens per answer.
      const primaryCost = 2 * ((12 * 3 + 6 * 15) / 1e6);
      const shadowCost = 2 * ((12 * 100 + 6 * 1000) / 1e6);
      expect(report.keys.find((k) => k.name === 'default/team-a')).toMatchObject({
        requests: 2,
        inputTokens: 24,
        outputTokens: 12,
        spentUSD: primaryCost,
      });
      expect(report.shadows).toEqual([
        expect.objectContaining({ name: 'priced', sampled: 2, completed: 2, inputTokens: 24, outputTokens: 12, costUSD: Math.round(shadowCost * 1e6) / 1e6 }),
      ]);
      const m = await scrape(adminURL(gw!));
      expect(m.samples.get(seriesKey('switchyard_cost_usd_total', { route: 'default/main', api_key: 'default/team-a' }))).toBeCloseTo(primaryCost, 10);
      expect(m.samples.get(seriesKey('switchyard_shadow_cost_usd_total', { route: 'default/main', shadow: 'priced' }))).toBeCloseTo(shadowCost, 10);
    });

    test('maxConcurrent: shadows over the cap are skipped and counted, never queued', async () => {
      shadowUp.fallback = () => ({ kind: 'hang' });
      await start(world([shadow('capped', anthropicTarget('claude-shadow'), { maxConcurrent: 2 })]));
      for (let i = 0; i < 5; i++) expect((await postMessage(baseURL(gw!))).status).toBe(200);
      await waitFor(() => shadowUp.received.length === 2, 5000, 'two shadows in flight');
      expect(await usage()).toEqual([expect.objectContaining({ sampled: 5, skipped: 3, inflight: 2, completed: 0, failed: 0 })]);
      // GET /admin/config shows the shadow without its credential.
      const config = await (await fetch(`${adminURL(gw!)}/admin/config`, { headers: { authorization: 'Bearer admin-token' } })).text();
      expect(JSON.parse(config).routes[0].shadows).toEqual([
        expect.objectContaining({ name: 'capped', provider: 'anthropic', model: 'claude-shadow', hasCredentials: true, percent: 100, maxConcurrent: 2 }),
      ]);
      expect(config).not.toContain(SHADOW_KEY);
      const m = await scrape(adminURL(gw!));
      expect(m.samples.get(seriesKey('switchyard_shadow_skipped_total', { route: 'default/main', shadow: 'capped', reason: 'max_concurrent' }))).toBe(3);
      expect(shadowUp.received.length).toBe(2);
    });
  });

  describe('translation', () => {
    const targets = () => [
      shadow('claude', anthropicTarget('claude-shadow')),
      shadow('gpt', { provider: 'openai', model: 'gpt-shadow', baseURL: `${oai.url}/v1`, credentialsRef: { name: 'upstream' } }),
      shadow('gemini', { provider: 'gemini', model: 'gemini-shadow', baseURL: `${gem.url}/v1beta`, credentialsRef: { name: 'upstream' } }),
    ];

    test.each([false, true])('each provider gets the request in its own wire format (stream: %s), and its answer is read in full', async (stream) => {
      await start(world(targets()));
      const res = await post({ stream, system: 'Be brief.', messages: [{ role: 'user', content: 'Name a colour.' }] });
      expect(res.status).toBe(200);
      const text = await res.text();
      if (stream) expect(parseSse(text).at(-1)!.event).toBe('message_stop');
      else expect(JSON.parse(text).model).toBe('claude-upstream-1');
      await waitFor(() => shadowLines().length === 3, 10_000, 'three shadow records');

      expect(shadowUp.last().path).toBe('/v1/messages');
      expect(shadowUp.last().body).toMatchObject({ model: 'claude-shadow', system: 'Be brief.', stream });
      expect(oai.last().path).toBe('/v1/chat/completions');
      expect(oai.last().headers.authorization).toBe(`Bearer ${UPSTREAM_KEY}`);
      expect(oai.last().body).toMatchObject({
        model: 'gpt-shadow',
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: 'Name a colour.' },
        ],
      });
      expect(!!oai.last().body.stream).toBe(stream);
      expect(gem.last()).toMatchObject({ model: 'gemini-shadow', action: stream ? 'streamGenerateContent' : 'generateContent' });
      expect(gem.last().body).toMatchObject({
        systemInstruction: { parts: [{ text: 'Be brief.' }] },
        contents: [{ role: 'user', parts: [{ text: 'Name a colour.' }] }],
      });

      const by = Object.fromEntries(shadowLines().map((l) => [l.shadow, l]));
      expect(by.claude).toMatchObject({
        provider: 'anthropic',
        upstream_model: 'claude-shadow',
        outcome: 'ok',
        status: 200,
        stop_reason: 'end_turn',
        input_tokens: 12,
        output_tokens: 6,
        stream,
      });
      expect(by.gpt).toMatchObject({
        provider: 'openai',
        upstream_model: 'gpt-shadow',
        outcome: 'ok',
        stop_reason: 'end_turn',
        input_tokens: 21,
        output_tokens: 9,
      });
      expect(by.gemini).toMatchObject({
        provider: 'gemini',
        upstream_model: 'gemini-shadow',
        outcome: 'ok',
        stop_reason: 'end_turn',
        input_tokens: 9,
        output_tokens: 5,
      });
      expect(by.gpt.output_chars).toBe('Hello, world'.length);
      expect(by.gemini.output_chars).toBe('Hello from Gemini'.length);
      for (const l of Object.values(by) as any[]) {
        expect(l.ttft_ms === null).toBe(!stream);
        expect(JSON.stringify(l)).not.toMatch(/Hello|colour|Be brief/); // never text in the log
      }
    });
  });

  describe('translation to the clouds', () => {
    const KEYS = { AWS_ACCESS_KEY_ID: 'AKIASHADOWTEST000042', AWS_SECRET_ACCESS_KEY: 'shadowSecretKey000000000000000000000000Sh4' };
    const PROJECT = 'shadow-proj';
    const saKey = serviceAccountKey(PROJECT);
    let bedrock: FakeBedrock;
    let vertex: FakeVertex;
    let oauth: FakeGoogleOAuth;
    beforeAll(async () => {
      bedrock = await startFakeBedrock({ region: 'us-east-1', keys: { [KEYS.AWS_ACCESS_KEY_ID]: KEYS.AWS_SECRET_ACCESS_KEY } });
      vertex = await startFakeVertex({ tokens: ['ya29.shadow-token-01'], project: PROJECT, region: 'us-east5' });
      oauth = await startFakeGoogleOAuth({ publicKeyPem: saKey.publicKeyPem, clientEmail: saKey.clientEmail, token: 'ya29.shadow-token-01' });
    });
    afterAll(async () => {
      await Promise.all([bedrock?.close(), vertex?.close(), oauth?.close()]);
    });

    test.each([false, true])('bedrock (SigV4, event stream) and vertex (OAuth bearer, rawPredict) shadows (stream: %s)', async (stream) => {
      const targets = [
        shadow('bedrock', {
          provider: 'bedrock',
          model: 'anthropic.claude-haiku-4-5-20251001-v1:0',
          region: 'us-east-1',
          baseURL: bedrock.url,
          credentialsRef: { name: 'aws' },
        }),
        shadow('vertex', {
          provider: 'vertex',
          model: 'claude-haiku-4-5@20251001',
          region: 'us-east5',
          project: PROJECT,
          baseURL: `${vertex.url}/v1`,
          credentialsRef: { name: 'gcp' },
        }),
      ];
      await start([...world(targets), secret('aws', KEYS), secret('gcp', { 'service-account.json': saKey.json(`${oauth.url}/token`) })]);
      const bedrockBefore = bedrock.requests.length;
      const vertexBefore = vertex.calls.length;
      const res = await post({ stream, messages: [{ role: 'user', content: 'Name a colour.' }] });
      expect(res.status).toBe(200);
      await res.text();
      await waitFor(() => shadowLines().length === 2, 10_000, 'two shadow records');

      const b = bedrock.requests[bedrockBefore];
      expect(b.auth).toBe('sigv4');
      expect(b.path).toMatch(stream ? /\/invoke-with-response-stream$/ : /\/invoke$/);
      expect(b.json).toMatchObject({ anthropic_version: 'bedrock-2023-05-31', messages: [{ role: 'user', content: 'Name a colour.' }] });
      expect(b.json.model).toBeUndefined();
      const v = vertex.calls[vertexBefore];
      expect(v.path).toMatch(stream ? /:streamRawPredict$/ : /:rawPredict$/);
      expect(v.headers.authorization).toBe('Bearer ya29.shadow-token-01');

      const by = Object.fromEntries(shadowLines().map((l) => [l.shadow, l]));
      expect(by.bedrock).toMatchObject({ provider: 'bedrock', outcome: 'ok', status: 200, stop_reason: 'end_turn', stream });
      expect(by.vertex).toMatchObject({ provider: 'vertex', outcome: 'ok', status: 200, stop_reason: 'end_turn', stream });
      expect(by.bedrock.output_tokens).toBeGreaterThan(0);
      expect(by.vertex.output_tokens).toBeGreaterThan(0);
      expect(JSON.stringify(lines)).not.toContain(KEYS.AWS_SECRET_ACCESS_KEY);
    });
  });

  describe('records', () => {
    let otlp: OtlpReceiver;
    beforeAll(async () => {
      otlp = await startOtlpReceiver();
    });
    afterAll(() => otlp.close());
    const otel = (capture: boolean) => ({
      OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_BSP_SCHEDULE_DELAY: '50',
      ...(capture ? { OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: 'true' } : {}),
    });
    const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';

    test.each([false, true])(
      'access-log line, switchyard_shadow_* series, and a CLIENT span linked to the primary’s trace (content capture %s)',
      async (capture) => {
        await start(
          world([shadow('gpt', { provider: 'openai', model: 'gpt-shadow', baseURL: `${oai.url}/v1`, credentialsRef: { name: 'upstream' } })]),
          otel(capture),
        );
        const res = await post({}, CLIENT_KEY, { headers: { traceparent: `00-${TRACE}-00f067aa0ba902b7-01` } });
        expect(res.status).toBe(200);
        const line = await waitFor(() => shadowLines()[0], 10_000, 'the shadow record');
        expect(line).toEqual({
          time: expect.any(String),
          request_id: expect.stringMatching(/^req_/),
          shadow_of: res.headers.get('request-id'),
          trace_id: TRACE,
          route: 'default/main',
          shadow: 'gpt',
          model: 'claude-test',
          provider: 'openai',
          upstream_model: 'gpt-shadow',
          response_model: expect.any(String),
          stream: false,
          outcome: 'ok',
          status: 200,
          error_type: null,
          stop_reason: 'end_turn',
          input_tokens: 21,
          output_tokens: 9,
          cache_read_input_tokens: 0,
          cache_creation_input_tokens: 0,
          cost_usd: 0,
          output_chars: 12,
          duration_ms: expect.any(Number),
          ttft_ms: null,
        });
        expect(line.request_id).not.toBe(line.shadow_of);

        const m = await scrape(adminURL(gw!));
        const labels = { route: 'default/main', shadow: 'gpt' };
        expect(m.samples.get(seriesKey('switchyard_shadow_requests_total', { ...labels, provider: 'openai', model: 'gpt-shadow', outcome: 'ok' }))).toBe(1);
        expect(m.samples.get(seriesKey('switchyard_shadow_request_duration_seconds_count', labels))).toBe(1);
        expect(m.samples.get(seriesKey('switchyard_shadow_tokens_total', { ...labels, type: 'input' }))).toBe(21);
        expect(m.samples.get(seriesKey('switchyard_shadow_tokens_total', { ...labels, type: 'output' }))).toBe(9);
        // The primary's series count the primary only.
        expect(m.sum('switchyard_requests_total')).toBe(1);
        expect(m.sum('switchyard_tokens_total', { type: 'input' })).toBe(12);

        const server = await waitFor(
          () => otlp.spans.find((s) => s.kind === SPAN_KIND.SERVER && s.attributes['switchyard.request_id'] === line.shadow_of),
          10_000,
          'the primary span',
        );
        const span = await waitFor(() => otlp.spans.find((s) => s.attributes['switchyard.shadow_of'] === line.shadow_of), 10_000, 'the shadow span');
        expect(span).toMatchObject({
          kind: SPAN_KIND.CLIENT,
          name: 'chat gpt-shadow',
          links: [{ traceId: TRACE, spanId: server.spanId }],
          attributes: expect.objectContaining({
            'gen_ai.provider.name': 'openai',
            'gen_ai.request.model': 'gpt-shadow',
            'gen_ai.usage.input_tokens': 21,
            'switchyard.shadow': 'gpt',
            'switchyard.route': 'default/main',
            'switchyard.request_id': line.request_id,
          }),
        });
        // A trace of its own: the shadow outlives the primary, and must not skew its timing.
        expect(span.traceId).not.toBe(TRACE);
        expect(span.parentSpanId).toBeUndefined();
        // The shadow's upstream got the shadow span's trace context.
        expect(oai.last().headers.traceparent).toBe(`00-${span.traceId}-${span.spanId}-01`);
        if (capture)
          expect(JSON.parse(span.attributes['gen_ai.output.messages'] as string)).toEqual([
            { role: 'assistant', parts: [{ type: 'text', content: 'Hello, world' }], finish_reason: 'end_turn' },
          ]);
        else expect(otlp.rawText()).not.toContain('Hello, world');
      },
    );
  });

  describe('shutdown', () => {
    beforeAll(() => assertBuilt());

    test('SIGTERM with shadows in flight: a shadow that finishes within the drain time completes; one still running then is aborted and counted', async () => {
      shadowUp.fallback = (r) => (r.body.model === 'claude-stuck' ? { kind: 'hang' } : { kind: 'message', delayMs: 400 });
      const config = writeConfig(world([shadow('quick', anthropicTarget('claude-quick')), shadow('stuck', anthropicTarget('claude-stuck'))]));
      const proc = await startGatewayProcess(['--config', config, '--drain-seconds', '1.5']);
      try {
        const res = await fetch(`http://127.0.0.1:${proc.port}/v1/messages`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-api-key': CLIENT_KEY },
          body: JSON.stringify({ model: 'claude-test', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] }),
        });
        expect(res.status).toBe(200);
        await res.arrayBuffer();
        await waitFor(() => shadowUp.received.length === 2, 5000, 'both shadows upstream');
        proc.child.kill('SIGTERM');
        expect(await proc.exited).toBe(0);
        const out = proc
          .stdout()
          .split('\n')
          .filter((l) => l.startsWith('{'))
          .map((l) => JSON.parse(l));
        const by = Object.fromEntries(out.filter((l) => l.shadow_of).map((l) => [l.shadow, l]));
        expect(by.quick).toMatchObject({ outcome: 'ok', status: 200, shadow_of: res.headers.get('request-id') });
        expect(by.stuck).toMatchObject({ outcome: 'aborted', error_type: 'shutdown', status: null });
        expect(by.stuck.duration_ms).toBeGreaterThanOrEqual(1000);
        const stopped = proc
          .stderr()
          .split('\n')
          .filter((l) => l.includes('"stopped"'))
          .map((l) => JSON.parse(l));
        expect(stopped).toEqual([expect.objectContaining({ forced: 0, shadows_aborted: 1 })]);
      } finally {
        await proc.stop();
      }
    });
  });
});

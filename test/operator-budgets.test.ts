import { readFileSync } from 'node:fs';
import path from 'node:path';
import yaml from 'js-yaml';
import { installFeatures } from '../gateway/src/features';
import type { Gateway } from '../gateway/src/gateway';
import { OPERATOR_NON_RESOURCE_URLS, OPERATOR_PERMISSIONS } from '../operator/src/rbac';
import { apiKey, clientSecret, NS, route, upstreamSecret } from './helpers/cluster-fixtures';
import { validateObject } from './helpers/crd-validation';
import { startFakeAnthropic, type FakeAnthropic, type Script } from './helpers/fake-anthropic';
import { startFakeKube, type FakeKube } from './helpers/fake-kube';
import { startGateway } from './helpers/gateway';
import { sleep, waitFor } from './helpers/http-server';
import { FakeKubelet } from './helpers/kubelet';
import { ADMIN_TOKEN, startOperator, type OperatorProcess } from './helpers/operator-process';

/**
 * Budgets seen from the cluster: the real operator process reads GET /admin/usage from two real
 * gateways (local stores: one share each) and writes ApiKey.status.usage, the BudgetExceeded
 * condition and Events at 80% and 100%, against the fake API server.
 */
const CLIENT_KEY = 'sk-sy-budget-client-7777';
const UPSTREAM_KEY = 'sk-ant-budget-upstream-8888';
const INTERVAL = ['--usage-interval-seconds', '0.3'];
const usage = (input: number, output: number): Script => ({
  kind: 'message',
  message: { usage: { input_tokens: input, output_tokens: output, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 } },
});

describe('operator: budgets and usage in ApiKey status', () => {
  let kube: FakeKube;
  let up: FakeAnthropic;
  const gws: Gateway[] = [];
  let kubelet: FakeKubelet;
  let op: OperatorProcess;

  const ask = async (gw: Gateway, model = 'claude-priced') => {
    const res = await fetch(`http://127.0.0.1:${gw.trafficPort}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': CLIENT_KEY, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({ model, max_tokens: 16, messages: [{ role: 'user', content: 'Hi' }] }),
    });
    return { status: res.status, body: (await res.json()) as any };
  };
  const key = () => kube.get('ApiKey', NS, 'alpha');
  const condition = (type: string, kind: 'ApiKey' | 'ModelRoute' = 'ApiKey', name = 'alpha') =>
    kube.get(kind, NS, name)?.status?.conditions?.find((c: any) => c.type === type);
  const budgetEvents = () => kube.events(NS).filter((e) => e.regarding?.name === 'alpha' && e.action === 'Spend');

  beforeAll(async () => {
    validateObject('ApiKey', apiKey('warm-up', 'client', { budget: { usd: 1, period: 'month' } }));
    kube = await startFakeKube();
    up = await startFakeAnthropic();
    kubelet = new FakeKubelet(kube).start();
    for (const name of ['gw-0', 'gw-1']) {
      const gw = await startGateway(undefined, { adminToken: ADMIN_TOKEN });
      await installFeatures(gw, { SWITCHYARD_ACCESS_LOG: 'off' });
      gws.push(gw);
      kubelet.addGateway(name, gw);
    }
    kube.create(upstreamSecret('anthropic', UPSTREAM_KEY));
    kube.create(clientSecret('client', CLIENT_KEY));
    kube.create(route('claude-priced', up.url)); // $3 / $15 per million
    kube.create(route('claude-free', up.url, { pricing: false }));
    kube.create(apiKey('alpha', 'client', { budget: { usd: 0.01, period: 'month' } }));
    op = startOperator(kube, { identity: 'op-a', args: INTERVAL });
  });

  afterAll(async () => {
    kubelet?.stop();
    await op?.stop('SIGKILL');
    await Promise.all(gws.map((g) => g.close()));
    await Promise.all([up?.close(), kube?.stop()]);
  });

  test('an unpriced route says so: Priced=False, its tokens cost nothing', async () => {
    // The first wait includes the operator's start (client-node loads in 1-3 s of CPU): room for a loaded machine.
    await waitFor(
      () => condition('Priced', 'ModelRoute', 'claude-free') && condition('Priced', 'ModelRoute', 'claude-priced'),
      40_000,
      'Priced on both routes',
    );
    expect(condition('Priced', 'ModelRoute', 'claude-free')).toMatchObject({
      status: 'False',
      reason: 'NotPriced',
      message: expect.stringContaining('count their tokens as free'),
    });
    expect(condition('Priced', 'ModelRoute', 'claude-priced')).toMatchObject({ status: 'True', reason: 'Priced' });
  }, 60_000);

  test('status.usage and BudgetExceeded=False appear before any traffic', async () => {
    await waitFor(() => gws.every((g) => g.table?.snapshot.gateways === 2) && key()?.status?.usage, 10_000, 'status.usage');
    const now = new Date();
    const period = `${now.getUTCFullYear()}-${String(now.getUTCMonth() + 1).padStart(2, '0')}`;
    expect(key().status.usage).toMatchObject({
      period,
      spentUSD: 0,
      requests: 0,
      inputTokens: 0,
      outputTokens: 0,
      resetsAt: expect.stringMatching(/^\d{4}-\d\d-01T00:00:00Z$/),
      updatedAt: expect.stringMatching(/Z$/),
    });
    await waitFor(() => condition('BudgetExceeded')?.status === 'False', 3000, 'BudgetExceeded False');
    expect(condition('BudgetExceeded')).toMatchObject({
      reason: 'WithinBudget',
      message: `spent $0.00 of the $0.01 monthly budget (0%) in period ${period}; resets at ${key().status.usage.resetsAt}`,
      observedGeneration: 1,
    });
  });

  test('spend summed over the pods reaches status within the interval: an Event at 80%, then BudgetExceeded=True and an Event at 100%', async () => {
    up.queue.push(usage(2500, 100)); // $0.009 on gw-0: 90% of the budget, over that pod's $0.005 share
    expect((await ask(gws[0])).status).toBe(200);
    const started = Date.now();
    await waitFor(() => key()?.status?.usage?.spentUSD === 0.009, 3000, 'spend in status');
    expect(Date.now() - started).toBeLessThan(2000);
    expect(condition('BudgetExceeded')).toMatchObject({ status: 'False', reason: 'WithinBudget' });
    const warned = await waitFor(() => budgetEvents().find((e) => e.reason === 'BudgetAlmostExhausted'), 3000, 'the 80% Event');
    expect(warned).toMatchObject({
      type: 'Warning',
      regarding: { kind: 'ApiKey', name: 'alpha', namespace: NS },
      note: expect.stringContaining(`ApiKey ${NS}/alpha has spent $0.009 (90%) of its $0.01 monthly budget`),
    });

    // gw-0 has spent its share; gw-1 has not.
    const refused = await ask(gws[0]);
    expect(refused.status).toBe(403);
    expect(refused.body.error).toMatchObject({
      type: 'permission_error',
      message: expect.stringMatching(
        /^budget exhausted: ApiKey team-a\/alpha spent \$0\.009 on this gateway, its share \(\$0\.005\) of the \$0\.01 monthly budget divided over 2 gateways; resets at /,
      ),
    });
    up.queue.push(usage(1000, 0)); // $0.003 on gw-1
    expect((await ask(gws[1])).status).toBe(200);
    await waitFor(() => condition('BudgetExceeded')?.status === 'True', 3000, 'BudgetExceeded True');
    expect(key().status.usage).toMatchObject({ spentUSD: 0.012, requests: 2, inputTokens: 3500, outputTokens: 100 });
    expect(condition('BudgetExceeded')).toMatchObject({
      reason: 'BudgetExhausted',
      message: expect.stringContaining('spent $0.012 of the $0.01 monthly budget'),
    });
    await waitFor(() => budgetEvents().find((e) => e.reason === 'BudgetExhausted'), 3000, 'the 100% Event');

    // Requests on the unpriced route cost nothing but count.
    expect((await ask(gws[1], 'claude-free')).status).toBe(200);
    await waitFor(() => key().status.usage.requests === 3, 3000, 'the free request counted');
    expect(key().status.usage.spentUSD).toBe(0.012);
  });

  test('nothing changes, nothing is written; one Event per threshold, also after the operator restarts', async () => {
    await sleep(600); // two polls
    const patches = () => kube.requests.filter((r) => r.verb === 'patch' && r.resource === 'apikeys/status').length;
    const before = patches();
    await sleep(1200);
    expect(patches()).toBe(before);

    await op.stop('SIGTERM');
    op = startOperator(kube, { identity: 'op-b', args: INTERVAL });
    await op.waitForLog('caches synced');
    up.queue.push(usage(10, 0));
    expect((await ask(gws[1])).status).toBe(200);
    await waitFor(() => key().status.usage.requests === 4, 5000, 'the new leader writes usage');
    await sleep(700);
    expect(
      budgetEvents()
        .map((e) => e.reason)
        .sort(),
    ).toEqual(['BudgetAlmostExhausted', 'BudgetExhausted']);
    expect(condition('BudgetExceeded')?.status).toBe('True');
  });

  test('kubectl columns: Budget and Spent read the budget and the spend', () => {
    const crd: any = yaml.load(readFileSync(path.join(__dirname, '..', 'crds', 'apikeys.switchyard.dev.yaml'), 'utf8'));
    const cols = crd.spec.versions[0].additionalPrinterColumns as Array<{ name: string; jsonPath: string }>;
    const get = (o: any, p: string) =>
      p
        .split('.')
        .filter(Boolean)
        .reduce((v, k) => v?.[k], o);
    const value = (name: string) => get(key(), cols.find((c) => c.name === name)!.jsonPath);
    expect(value('Budget')).toBe(0.01);
    expect(value('Spent')).toBeGreaterThanOrEqual(0.012);
  });

  test('no secret in status, Events or logs; every API request is one rbac.ts allows; writes are merge patches', () => {
    const everything = [op.output.join('\n'), JSON.stringify(kube.list('ApiKey')), JSON.stringify(kube.events())].join('\n');
    for (const s of [CLIENT_KEY, UPSTREAM_KEY, ADMIN_TOKEN]) expect(everything).not.toContain(s);
    const listed = new Set(OPERATOR_PERMISSIONS.flatMap((p) => p.verbs.map((v) => `${p.apiGroup}|${p.resource}|${v}`)));
    // Non-resource URLs (ServiceAccount issuer discovery) are granted by path.
    const listedPaths = new Set(OPERATOR_NON_RESOURCE_URLS.map((u) => `|${u}|get`));
    const used = new Set(kube.requests.filter((r) => r.token === 't').map((r) => `${r.apiGroup}|${r.resource}|${r.verb}`));
    expect([...used].filter((u) => !listed.has(u) && !listedPaths.has(u))).toEqual([]);
    for (const r of kube.requests.filter((q) => q.verb === 'patch')) expect(r.contentType).toBe('application/merge-patch+json');
    expect(op.logs().filter((l) => l.level === 'error')).toEqual([]);
  });
});

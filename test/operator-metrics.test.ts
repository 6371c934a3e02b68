import { createServer } from 'node:net';
import type { Gateway } from '../gateway/src/gateway';
import { apiKey, clientSecret, route, upstreamSecret } from './helpers/cluster-fixtures';
import { validateObject } from './helpers/crd-validation';
import { startFakeAnthropic, type FakeAnthropic } from './helpers/fake-anthropic';
import { startFakeKube, type FakeKube } from './helpers/fake-kube';
import { startGateway } from './helpers/gateway';
import { waitFor } from './helpers/http-server';
import { FakeKubelet } from './helpers/kubelet';
import { ADMIN_TOKEN, startOperator, type OperatorProcess } from './helpers/operator-process';
import { parseProm } from './helpers/prom';

/**
 * The operator's /metrics (on its health port) and --namespace with several namespaces, against
 * the fake API server: routes in one watched namespace, keys in another, a third namespace that
 * is not watched, one gateway pod that answers and one whose admin port is closed.
 */
const CLIENT_KEY = 'sk-sy-metrics-test-key';

describe('operator metrics and watched namespaces', () => {
  let kube: FakeKube;
  let up: FakeAnthropic;
  let gw: Gateway;
  let kubelet: FakeKubelet;
  let op: OperatorProcess;
  let metricsUrl: string;
  const started = Date.now() / 1000;

  const scrape = async () => {
    const res = await fetch(metricsUrl);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    return parseProm(await res.text());
  };
  const ask = async (model: string) => {
    const res = await fetch(`http://127.0.0.1:${gw.trafficPort}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': CLIENT_KEY, 'content-type': 'application/json' },
      body: JSON.stringify({ model, max_tokens: 8, messages: [{ role: 'user', content: 'Hi' }] }),
    });
    await res.arrayBuffer();
    return res.status;
  };

  beforeAll(async () => {
    validateObject('ModelRoute', route('warm-up', 'http://127.0.0.1:9'));
    validateObject('ApiKey', apiKey('warm-up', 'client'));
    kube = await startFakeKube();
    up = await startFakeAnthropic();
    gw = await startGateway(undefined, { adminToken: ADMIN_TOKEN });
    const closed = createServer();
    const deadPort = await new Promise<number>((r) => closed.listen(0, '127.0.0.1', () => r((closed.address() as { port: number }).port)));
    await new Promise((r) => closed.close(r));
    kubelet = new FakeKubelet(kube).start();
    kubelet.addGateway('gw-0', gw);
    // Ready (its probe asks the live gateway) but its admin port refuses every push.
    kubelet.addGateway('gw-dead', gw, deadPort);
    kube.create(upstreamSecret('anthropic', 'sk-ant-x', 'team-a'));
    kube.create(route('claude-test', up.url, {}, 'team-a'));
    kube.create(clientSecret('client', CLIENT_KEY, 'team-b'));
    kube.create(apiKey('team-b-key', 'client', {}, 'team-b'));
    kube.create(upstreamSecret('anthropic', 'sk-ant-y', 'team-c'));
    kube.create(route('unwatched', up.url, { model: 'unwatched' }, 'team-c'));
    op = startOperator(kube, {
      identity: 'op-m',
      args: ['--namespace', 'team-a,team-b', '--lease-duration-seconds', '20', '--renew-deadline-seconds', '15', '--retry-period-seconds', '1'],
    });
    const starting = await op.waitForLog('operator starting', 30_000);
    expect(starting.namespaces).toEqual(['team-a', 'team-b']);
    metricsUrl = `http://127.0.0.1:${starting.healthPort}/metrics`;
  }, 60_000);

  afterAll(async () => {
    kubelet?.stop();
    await op?.stop('SIGKILL');
    await gw?.close();
    await Promise.all([up?.close(), kube?.stop()]);
  });

  test('several --namespace values: routes and keys from each are served, other namespaces and cluster-wide lists are not touched', async () => {
    await waitFor(async () => (await ask('claude-test')) === 200, 30_000, 'traffic through the route from team-a with the key from team-b');
    expect(await ask('unwatched')).toBe(404);
    const reads = kube.requests.filter((r) => r.verb === 'list' || r.verb === 'watch');
    for (const resource of ['modelroutes', 'apikeys', 'secrets']) {
      const namespaces = new Set(reads.filter((r) => r.resource === resource).map((r) => r.namespace ?? '(cluster)'));
      expect([resource, [...namespaces].sort()]).toEqual([resource, ['team-a', 'team-b']]);
    }
  }, 60_000);

  test('/metrics: reconciles, pushes per pod and outcome, leader, last successful push, process metrics', async () => {
    const s = await waitFor(
      async () => {
        const m = await scrape();
        // A reconcile is counted once its pushes are done, so a scrape can see the pushes first.
        return m.sum('switchyard_operator_pushes_total', { pod: 'gw-dead', outcome: 'failed' }) > 0 &&
          m.sum('switchyard_operator_pushes_total', { pod: 'gw-0', outcome: 'applied' }) > 0 &&
          m.sum('switchyard_operator_reconciles_total', { result: 'ok' }) > 0
          ? m
          : undefined;
      },
      30_000,
      'an applied and a failed push, and the reconcile that made them',
    );
    expect(s.sum('switchyard_operator_reconciles_total', { result: 'ok' })).toBeGreaterThan(0);
    expect(s.samples.get('switchyard_operator_reconciles_total{result="error"}')).toBe(0);
    expect(s.sum('switchyard_operator_leader')).toBe(1);
    const last = s.sum('switchyard_operator_last_successful_push_timestamp_seconds');
    expect(last).toBeGreaterThanOrEqual(Math.floor(started));
    expect(last).toBeLessThanOrEqual(Date.now() / 1000 + 1);
    expect(s.types.get('switchyard_operator_pushes_total')).toBe('counter');
    expect(s.types.get('switchyard_operator_leader')).toBe('gauge');
    expect(s.types.get('process_cpu_seconds_total')).toBe('counter');
    // The admin token travels with every push; it must never show up in what Prometheus reads.
    expect(s.text).not.toContain(ADMIN_TOKEN);

    // A pod that already runs the configuration answers "not applied": counted as unchanged.
    // Two pods backed by one gateway process get the same snapshot; whichever push lands second
    // finds it running already.
    kubelet.addGateway('gw-1', gw);
    const unchanged = await waitFor(
      async () => {
        const m = await scrape();
        const n =
          m.sum('switchyard_operator_pushes_total', { pod: 'gw-0', outcome: 'unchanged' }) +
          m.sum('switchyard_operator_pushes_total', { pod: 'gw-1', outcome: 'unchanged' });
        return n > 0 ? n : undefined;
      },
      30_000,
      'an unchanged push',
    );
    expect(unchanged).toBeGreaterThan(0);

    // A pod that leaves the Service takes its series with it: pod churn must not grow the label set forever.
    kubelet.removeGateway('gw-dead');
    await waitFor(async () => ((await scrape()).text.includes('pod="gw-dead"') ? undefined : true), 30_000, "the departed pod's push series removed");
    expect((await scrape()).sum('switchyard_operator_pushes_total', { pod: 'gw-0', outcome: 'applied' })).toBeGreaterThan(0);
  }, 90_000);

  test('a watch that fails is restarted and counted per resource', async () => {
    const before = (await scrape()).sum('switchyard_operator_informer_restarts_total', { resource: 'apikeys' });
    kube.failNext(500, 1, (r) => r.verb === 'watch' && r.resource === 'apikeys');
    kube.endWatches('apikeys');
    await waitFor(
      async () => (await scrape()).sum('switchyard_operator_informer_restarts_total', { resource: 'apikeys' }) > before,
      30_000,
      'the restart to be counted',
    );
    // It came back: a new key is served.
    kube.create(clientSecret('client-2', 'sk-sy-metrics-second-key', 'team-b'));
    kube.create(apiKey('second', 'client-2', {}, 'team-b'));
    await waitFor(
      async () => {
        const res = await fetch(`http://127.0.0.1:${gw.trafficPort}/v1/messages`, {
          method: 'POST',
          headers: { 'x-api-key': 'sk-sy-metrics-second-key', 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'claude-test', max_tokens: 8, messages: [{ role: 'user', content: 'Hi' }] }),
        });
        await res.arrayBuffer();
        return res.status === 200;
      },
      30_000,
      'the key created after the restart',
    );
  }, 60_000);
});

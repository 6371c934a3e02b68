import { installFeatures } from '../gateway/src/features';
import type { Gateway } from '../gateway/src/gateway';
import { apiKey, clientSecret, NS, route, upstreamSecret } from './helpers/cluster-fixtures';
import { validateObject } from './helpers/crd-validation';
import { startFakeAnthropic, type FakeAnthropic } from './helpers/fake-anthropic';
import { startFakeKube, type FakeKube } from './helpers/fake-kube';
import { startGateway } from './helpers/gateway';
import { waitFor } from './helpers/http-server';
import { FakeKubelet } from './helpers/kubelet';
import { ADMIN_TOKEN, startOperator, type OperatorProcess } from './helpers/operator-process';

/**
 * Shadow counts seen from the cluster: the real operator reads the `shadows` section of
 * GET /admin/usage from two real gateways, sums it per shadow revision and writes
 * ModelRoute.status.shadows and status.activeShadows (the `Shadows` printer column).
 */
const CLIENT_KEY = 'sk-sy-shadow-client-5555';
const UPSTREAM_KEY = 'sk-ant-shadow-upstream-6666';

describe('operator: shadow counts in ModelRoute status', () => {
  let kube: FakeKube;
  let up: FakeAnthropic;
  const gws: Gateway[] = [];
  let kubelet: FakeKubelet;
  let op: OperatorProcess;

  const withShadow = (percent: number) => {
    const r = route('claude-main', 'http://placeholder');
    r.spec.targets[0].baseURL = up.url;
    r.spec.shadows = [
      { name: 'trial', percent, target: { provider: 'anthropic', model: 'claude-shadow', baseURL: up.url, credentialsRef: { name: 'anthropic' } } },
    ];
    return r;
  };
  const ask = async (gw: Gateway) => {
    const res = await fetch(`http://127.0.0.1:${gw.trafficPort}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': CLIENT_KEY, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({ model: 'claude-main', max_tokens: 16, messages: [{ role: 'user', content: 'Hi' }] }),
    });
    await res.arrayBuffer();
    return res.status;
  };
  const status = () => kube.get('ModelRoute', NS, 'claude-main')?.status;

  beforeAll(async () => {
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
    kube.create(withShadow(100));
    kube.create(apiKey('alpha', 'client'));
    op = startOperator(kube, { identity: 'op-a', args: ['--usage-interval-seconds', '0.3'] });
  });

  afterAll(async () => {
    kubelet?.stop();
    await op?.stop('SIGKILL');
    await Promise.all(gws.map((g) => g.close()));
    await Promise.all([up?.close(), kube?.stop()]);
  });

  test('activeShadows and zero counts before traffic; the counts summed over pods after it; a changed shadow starts again from zero', async () => {
    // The first wait includes the operator's start (client-node loads in 1-3 s of CPU): room for a loaded machine.
    await waitFor(() => status()?.activeShadows === 1 && gws.every((g) => g.table?.route('claude-main')?.shadows), 40_000, 'activeShadows');
    expect(status().shadows).toEqual([{ name: 'trial', sampled: 0, completed: 0, failed: 0, skipped: 0 }]);
    // What the API server would accept: the status fields exist in the CRD schema.
    expect(validateObject('ModelRoute', kube.get('ModelRoute', NS, 'claude-main'))).toEqual([]);

    expect(await ask(gws[0])).toBe(200);
    expect(await ask(gws[0])).toBe(200);
    expect(await ask(gws[1])).toBe(200);
    await waitFor(() => status()?.shadows?.[0]?.completed === 3, 10_000, 'three shadows in status');
    expect(status().shadows).toEqual([{ name: 'trial', sampled: 3, completed: 3, failed: 0, skipped: 0 }]);

    const changed = withShadow(50);
    kube.update({ ...kube.get('ModelRoute', NS, 'claude-main'), spec: changed.spec });
    await waitFor(() => status()?.shadows?.[0]?.sampled === 0, 10_000, 'counts reset after the change');
    expect(status()).toMatchObject({ activeShadows: 1, shadows: [{ name: 'trial', sampled: 0, completed: 0, failed: 0, skipped: 0 }] });

    const without = withShadow(50);
    delete without.spec.shadows;
    kube.update({ ...kube.get('ModelRoute', NS, 'claude-main'), spec: without.spec });
    await waitFor(() => status()?.activeShadows === 0, 10_000, 'no shadows');
    expect(status().shadows).toBeUndefined();
  }, 90_000);
});

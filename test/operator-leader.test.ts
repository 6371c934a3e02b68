import type { Gateway } from '../gateway/src/gateway';
import { apiKey, clientSecret, NS, route, upstreamSecret } from './helpers/cluster-fixtures';
import { validateObject } from './helpers/crd-validation';
import { startFakeAnthropic, type FakeAnthropic } from './helpers/fake-anthropic';
import { startFakeKube, type FakeKube } from './helpers/fake-kube';
import { startGateway } from './helpers/gateway';
import { waitFor } from './helpers/http-server';
import { FakeKubelet } from './helpers/kubelet';
import { ADMIN_TOKEN, startOperator, type OperatorProcess } from './helpers/operator-process';
import { startRecordingProxy } from './helpers/recording-proxy';

/**
 * Three operator replicas share a Lease: only the holder pushes and writes status; when it dies a
 * standby takes over after the lease duration; a graceful stop hands over at once. Each replica
 * has its own API token, so the fake's request log tells who did what, and the gateway's admin
 * port sits behind a recording proxy that tells who pushed. Both run with --namespace.
 */
const CLIENT_KEY = 'sk-sy-leader-test-key';
const LEASE = ['Lease', 'switchyard', 'switchyard-operator', 'coordination.k8s.io'] as const;

describe('leader election between operator replicas', () => {
  let kube: FakeKube;
  let upA: FakeAnthropic;
  let upB: FakeAnthropic;
  let gw: Gateway;
  let proxy: Awaited<ReturnType<typeof startRecordingProxy>>;
  let kubelet: FakeKubelet;
  const ops: OperatorProcess[] = [];
  /** Three replicas start together; whoever holds the Lease at each step is looked up by identity. */
  const byId = (id: string) => ops.find((o) => o.identity === id)!;
  const tokenOf = (id: string) => `t${id.slice(-1)}`;

  const ask = async (model: string) => {
    const res = await fetch(`http://127.0.0.1:${gw.trafficPort}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': CLIENT_KEY, 'content-type': 'application/json' },
      body: JSON.stringify({ model, max_tokens: 8, messages: [{ role: 'user', content: 'Hi' }] }),
    });
    await res.arrayBuffer();
    return res.status;
  };
  const holder = () => kube.get(...LEASE)?.spec?.holderIdentity;
  const pushesBy = (id: string) => proxy.seen.filter((r) => r.method === 'PUT' && r.userAgent === `switchyard-operator (${id})`).length;
  const start = (identity: string, token: string) => {
    const op = startOperator(kube, { identity, token, args: ['--namespace', NS] });
    ops.push(op);
    return op;
  };

  beforeAll(async () => {
    validateObject('ModelRoute', route('warm-up', 'http://127.0.0.1:9'));
    kube = await startFakeKube({ tokens: ['ta', 'tb', 'tc'] });
    [upA, upB] = await Promise.all([startFakeAnthropic(), startFakeAnthropic()]);
    gw = await startGateway(undefined, { adminToken: ADMIN_TOKEN });
    proxy = await startRecordingProxy(() => gw.adminPort);
    kubelet = new FakeKubelet(kube).start();
    kubelet.addGateway('gw-0', gw, proxy.port);
    kube.create(upstreamSecret('anthropic', 'sk-ant-x'));
    kube.create(clientSecret('client', CLIENT_KEY));
    kube.create(route('claude-test', upA.url));
    kube.create(apiKey('team-a', 'client'));
    // Outside --namespace: never seen, never given a status.
    kube.create(route('elsewhere', upA.url, { model: 'elsewhere' }, 'other'));
  });

  afterAll(async () => {
    kubelet?.stop();
    await Promise.all(ops.map((o) => o.stop('SIGKILL')));
    await gw?.close();
    await Promise.all([proxy?.close(), upA?.close(), upB?.close(), kube?.stop()]);
  });

  test('one replica takes the Lease and programs the gateway; the others only follow', async () => {
    for (const id of ['op-a', 'op-b', 'op-c']) start(id, tokenOf(id));
    // Three operators start at once (client-node loads in 1-3 s of CPU each): room for a loaded machine.
    await waitFor(() => holder(), 40_000, 'a lease holder');
    const leader = byId(holder());
    const standbys = ops.filter((o) => o !== leader);
    await waitFor(async () => (await ask('claude-test')) === 200, 5000, 'traffic');
    for (const s of standbys) await s.waitForLog('following', 20_000);
    await waitFor(() => kube.get('ModelRoute', NS, 'claude-test')?.status?.gateways === '1/1', 5000, 'status');
    // Give the followers time to misbehave if they would.
    await new Promise((r) => setTimeout(r, 1000));
    expect(pushesBy(leader.identity)).toBeGreaterThan(0);
    for (const s of standbys) {
      expect(pushesBy(s.identity)).toBe(0);
      const reqs = kube.requests.filter((r) => r.token === tokenOf(s.identity));
      expect(reqs.length).toBeGreaterThan(0);
      // Reads only (a lost race to create the Lease is a refused create, also harmless).
      expect(reqs.filter((r) => r.code < 300).every((r) => ['list', 'watch', 'get'].includes(r.verb))).toBe(true);
      expect(reqs.filter((r) => r.verb === 'get').every((r) => r.resource === 'leases')).toBe(true);
    }
    expect(kube.get(...LEASE).spec).toMatchObject({ holderIdentity: leader.identity, leaseDurationSeconds: 4, leaseTransitions: 0 });
    // --namespace: only team-a is watched, so the other namespace's route is untouched.
    expect(kube.requests.filter((r) => ['modelroutes', 'apikeys', 'secrets'].includes(r.resource)).every((r) => r.namespace === NS)).toBe(true);
    expect(kube.get('ModelRoute', 'other', 'elsewhere').status).toBeUndefined();
    expect(await ask('elsewhere')).toBe(404);
  }, 90_000);

  test('killing the leader (no release): a standby takes over after the lease expires and pushes changes', async () => {
    const old = byId(holder());
    old.proc.kill('SIGKILL');
    await old.exited;
    const killedAt = Date.now();
    await waitFor(() => holder() && holder() !== old.identity, 15_000, 'a standby takes over');
    const leader = byId(holder());
    // It had to wait out the 4 s lease (measured from its last sight of a renewal).
    expect(Date.now() - killedAt).toBeGreaterThan(2500);
    expect(kube.get(...LEASE).spec.leaseTransitions).toBe(1);
    const r = kube.get('ModelRoute', NS, 'claude-test');
    r.spec.targets[0].baseURL = upB.url;
    kube.update(r);
    await waitFor(async () => (await ask('claude-test')) === 200 && upB.received.length > 0, 5000, 'traffic moved by the new leader');
    expect(pushesBy(leader.identity)).toBeGreaterThan(0);
    await waitFor(() => kube.get('ModelRoute', NS, 'claude-test')?.status?.observedGeneration === 2, 5000, 'status by the new leader');
    expect(kube.requests.filter((q) => q.verb === 'patch' && q.token === tokenOf(leader.identity)).length).toBeGreaterThan(0);
  });

  test('a graceful stop releases the Lease, so the last standby takes over at once', async () => {
    const leader = byId(holder());
    const last = ops.find((o) => o !== leader && o.proc.exitCode === null && o.proc.signalCode === null)!;
    expect(await leader.stop('SIGTERM')).toBe(0);
    const stoppedAt = Date.now();
    await waitFor(() => holder() === last.identity, 10_000, 'the last standby takes the released lease');
    // Released, so no need to wait out the 4 s lease.
    expect(Date.now() - stoppedAt).toBeLessThan(3000);
    expect(kube.get(...LEASE).spec.leaseTransitions).toBe(2);
    const r = kube.get('ModelRoute', NS, 'claude-test');
    r.spec.targets[0].baseURL = upA.url;
    kube.update(r);
    const before = upA.received.length;
    await waitFor(async () => (await ask('claude-test')) === 200 && upA.received.length > before, 5000, 'traffic moved by the last replica');
    expect(pushesBy(last.identity)).toBeGreaterThan(0);
  });
});

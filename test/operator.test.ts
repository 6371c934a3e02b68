import type { Gateway } from '../gateway/src/gateway';
import { OPERATOR_NON_RESOURCE_URLS, OPERATOR_PERMISSIONS } from '../operator/src/rbac';
import { apiKey, clientSecret, NS, route, upstreamSecret } from './helpers/cluster-fixtures';
import { startFakeAnthropic, type FakeAnthropic } from './helpers/fake-anthropic';
import { validateObject } from './helpers/crd-validation';
import { startFakeKube, type FakeKube } from './helpers/fake-kube';
import { startGateway } from './helpers/gateway';
import { waitFor } from './helpers/http-server';
import { FakeKubelet } from './helpers/kubelet';
import { ADMIN_TOKEN, startOperator, type OperatorProcess } from './helpers/operator-process';

/**
 * The real operator process and its client-node informers against the fake API server, pushing
 * to real gateways that forward to fake Anthropic upstreams. The steps build on each other, in
 * the order a cluster would see them.
 */
const CLIENT_KEY = 'sk-sy-client-aaaa-1111';
const UPSTREAM_KEY = 'sk-ant-upstream-0001';
const ROTATED_KEY = 'sk-ant-upstream-0002-rotated';

describe('operator against a fake API server and real gateways', () => {
  let kube: FakeKube;
  let upA: FakeAnthropic;
  let upB: FakeAnthropic;
  const gateways: Gateway[] = [];
  let gw0: Gateway;
  let gw1: Gateway;
  let kubelet: FakeKubelet;
  let op: OperatorProcess;

  const ask = async (gw: Gateway, model: string, key = CLIENT_KEY) => {
    const res = await fetch(`http://127.0.0.1:${gw.trafficPort}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': key, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({ model, max_tokens: 16, messages: [{ role: 'user', content: 'Hi' }] }),
    });
    const body = (await res.json()) as any;
    return { status: res.status, body };
  };
  const status = (kind: 'ModelRoute' | 'ApiKey', name: string) => kube.get(kind, NS, name)?.status;
  const condition = (kind: 'ModelRoute' | 'ApiKey', name: string, type: string) => status(kind, name)?.conditions?.find((c: any) => c.type === type);

  beforeAll(async () => {
    // The fake validates CRs with ajv + CEL like an API server; compile those validators now, not in the timed step.
    validateObject('ModelRoute', route('warm-up', 'http://127.0.0.1:9'));
    validateObject('ApiKey', apiKey('warm-up', 'client'));
    kube = await startFakeKube();
    [upA, upB] = await Promise.all([startFakeAnthropic(), startFakeAnthropic()]);
    gw0 = await startGateway(undefined, { adminToken: ADMIN_TOKEN });
    gateways.push(gw0);
    kubelet = new FakeKubelet(kube).start();
    kubelet.addGateway('gw-0', gw0);
    // One operator here: a lease that survives a few seconds of CPU starvation (the full suite
    // runs beside it on two cores) keeps it from losing leadership and exiting mid-test.
    // Lease hand-over timing is operator-leader.test.ts's subject, with the short defaults.
    op = startOperator(kube, { identity: 'op-a', args: ['--lease-duration-seconds', '20', '--renew-deadline-seconds', '15', '--retry-period-seconds', '1'] });
  });

  afterAll(async () => {
    kubelet?.stop();
    await op?.stop('SIGKILL');
    await Promise.all(gateways.map((g) => g.close()));
    await Promise.all([upA?.close(), upB?.close(), kube?.stop()]);
  });

  test('the leader pushes a configuration as soon as its caches sync; the gateway turns ready', async () => {
    await waitFor(() => gw0.table, 20_000, 'first push');
    await waitFor(async () => (await fetch(`http://127.0.0.1:${gw0.adminPort}/readyz`)).status === 200, 5000, 'gateway ready');
    expect(kube.get('Lease', 'switchyard', 'switchyard-operator', 'coordination.k8s.io').spec.holderIdentity).toBe('op-a');
    expect(gw0.table!.snapshot.routes).toEqual([]);
  });

  test('a ModelRoute and an ApiKey serve traffic within 2 s', async () => {
    const started = Date.now();
    kube.create(upstreamSecret('anthropic', UPSTREAM_KEY));
    kube.create(clientSecret('client', CLIENT_KEY));
    kube.create(route('claude-test', upA.url, { aliases: ['test-alias'], upstreamModel: 'claude-upstream-a' }));
    kube.create(apiKey('team-a', 'client'));
    await waitFor(async () => (await ask(gw0, 'test-alias')).status === 200, 2000, 'traffic through the gateway');
    expect(Date.now() - started).toBeLessThan(2000);
    expect(upA.last().body.model).toBe('claude-upstream-a');
    expect(upA.last().headers['x-api-key']).toBe(UPSTREAM_KEY);
  });

  test('status: observedGeneration, Accepted, Programmed, Priced, gateways and targets', async () => {
    await waitFor(() => condition('ModelRoute', 'claude-test', 'Programmed')?.status === 'True', 5000, 'route Programmed');
    await waitFor(() => condition('ApiKey', 'team-a', 'Programmed')?.status === 'True', 5000, 'key Programmed');
    const s = status('ModelRoute', 'claude-test');
    expect(s).toMatchObject({ observedGeneration: 1, gateways: '1/1', targets: 'anthropic/claude-upstream-a' });
    const byType = Object.fromEntries(s.conditions.map((c: any) => [c.type, c]));
    expect(byType.Accepted).toMatchObject({ status: 'True', reason: 'Accepted', observedGeneration: 1 });
    expect(byType.Programmed).toMatchObject({ status: 'True', reason: 'Programmed', observedGeneration: 1, message: 'running on 1 of 1 ready gateway pod(s)' });
    expect(byType.Priced).toMatchObject({ status: 'True', reason: 'Priced' });
    for (const c of s.conditions) expect(c.lastTransitionTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(status('ApiKey', 'team-a')).toMatchObject({ observedGeneration: 1, gateways: '1/1' });
    // The snapshot holds the client key only as its SHA-256.
    expect(JSON.stringify(gw0.table!.snapshot)).not.toContain(CLIENT_KEY);
  });

  test('updating the route moves traffic to the new target; generation 2 is observed', async () => {
    const before = condition('ModelRoute', 'claude-test', 'Accepted');
    const r = kube.get('ModelRoute', NS, 'claude-test');
    r.spec.targets = [{ ...r.spec.targets[0], baseURL: upB.url, model: 'claude-upstream-b' }];
    kube.update(r);
    await waitFor(async () => (await ask(gw0, 'claude-test')).status === 200 && upB.received.length > 0, 3000, 'traffic on upstream B');
    expect(upB.last().body.model).toBe('claude-upstream-b');
    await waitFor(
      () => status('ModelRoute', 'claude-test')?.observedGeneration === 2 && condition('ModelRoute', 'claude-test', 'Programmed')?.observedGeneration === 2,
      5000,
      'generation 2 observed',
    );
    expect(status('ModelRoute', 'claude-test').targets).toBe('anthropic/claude-upstream-b');
    // No flip, so no new transition time.
    expect(condition('ModelRoute', 'claude-test', 'Accepted').lastTransitionTime).toBe(before.lastTransitionTime);
  });

  test('a route naming a missing Secret is Accepted=False SecretNotFound with an Event; the others keep working; creating the Secret fixes it', async () => {
    kube.create(route('needs-secret', upA.url, { secret: 'missing' }));
    await waitFor(() => condition('ModelRoute', 'needs-secret', 'Accepted')?.status === 'False', 5000, 'rejection');
    expect(condition('ModelRoute', 'needs-secret', 'Accepted')).toMatchObject({
      reason: 'SecretNotFound',
      message: `spec.targets.0.credentialsRef: Secret ${NS}/missing not found`,
      observedGeneration: 1,
    });
    expect(condition('ModelRoute', 'needs-secret', 'Programmed')).toMatchObject({ status: 'False', reason: 'Invalid' });
    expect(status('ModelRoute', 'needs-secret').gateways).toBe('0/1');
    const events = await waitFor(
      () => {
        const evs = kube.events(NS).filter((e) => e.regarding?.name === 'needs-secret');
        return evs.length ? evs : undefined;
      },
      5000,
      'event',
    );
    expect(events[0]).toMatchObject({
      type: 'Warning',
      reason: 'SecretNotFound',
      action: 'Compile',
      reportingController: 'switchyard.dev/operator',
      reportingInstance: 'op-a',
      regarding: { kind: 'ModelRoute', apiVersion: 'switchyard.dev/v1alpha1', namespace: NS },
    });
    expect(events[0].eventTime).toMatch(/\.\d{6}Z$/);
    expect((await ask(gw0, 'claude-test')).status).toBe(200);
    expect((await ask(gw0, 'needs-secret')).status).toBe(404);

    kube.create(upstreamSecret('missing', UPSTREAM_KEY));
    await waitFor(() => condition('ModelRoute', 'needs-secret', 'Programmed')?.status === 'True', 5000, 'fixed by the Secret');
    expect(condition('ModelRoute', 'needs-secret', 'Accepted')).toMatchObject({ status: 'True', reason: 'Accepted' });
    expect((await ask(gw0, 'needs-secret')).status).toBe(200);
    // One rejection, one Event.
    expect(kube.events(NS).filter((e) => e.regarding?.name === 'needs-secret')).toHaveLength(1);
  });

  test('rotating the upstream Secret reaches the gateway without a restart', async () => {
    kube.update({ ...kube.get('Secret', NS, 'anthropic'), data: undefined, stringData: { apiKey: ROTATED_KEY } });
    await waitFor(async () => (await ask(gw0, 'claude-test')).status === 200 && upB.last().headers['x-api-key'] === ROTATED_KEY, 3000, 'rotated key upstream');
  });

  test('a new gateway pod gets the snapshot while not ready, turns ready, and the fleet is re-pushed with gateways=2', async () => {
    gw1 = await startGateway(undefined, { adminToken: ADMIN_TOKEN });
    gateways.push(gw1);
    kubelet.addGateway('gw-1', gw1);
    await waitFor(() => gw1.table, 5000, 'push to the new pod');
    await waitFor(() => gw0.table?.snapshot.gateways === 2 && gw1.table?.snapshot.gateways === 2, 5000, 'gateways=2 on both');
    expect(gw1.table!.version).toBe(gw0.table!.version);
    expect((await ask(gw1, 'claude-test')).status).toBe(200);
    await waitFor(() => status('ModelRoute', 'claude-test')?.gateways === '2/2' && status('ApiKey', 'team-a')?.gateways === '2/2', 5000, 'status 2/2');
  });

  test('a ready gateway that stops answering makes Programmed False (PushFailed, 1/2); restarted at the same address it is re-pushed', async () => {
    // The endpoint stays as it is (no kubelet): only the operator's own checks can notice.
    kubelet.pause();
    const { trafficPort, adminPort } = gw1;
    await gw1.close();
    kube.create(route('claude-d', upA.url));
    await waitFor(() => condition('ModelRoute', 'claude-d', 'Programmed')?.reason === 'PushFailed', 8000, 'PushFailed');
    expect(condition('ModelRoute', 'claude-d', 'Programmed')).toMatchObject({ status: 'False', message: expect.stringContaining('pod gw-1: ') });
    expect(status('ModelRoute', 'claude-d').gateways).toBe('1/2');
    expect((await ask(gw0, 'claude-d')).status).toBe(200);

    gw1 = await startGateway(undefined, { adminToken: ADMIN_TOKEN, port: trafficPort, adminPort });
    gateways.push(gw1);
    kubelet.replaceGateway('gw-1', gw1);
    await waitFor(() => gw1.table, 6000, 're-push after restart');
    expect(gw1.table!.version).toBe(gw0.table!.version);
    await waitFor(
      () => condition('ModelRoute', 'claude-d', 'Programmed')?.status === 'True' && status('ModelRoute', 'claude-d').gateways === '2/2',
      6000,
      'Programmed again',
    );
    kubelet.pause(false);
    expect((await ask(gw1, 'claude-test')).status).toBe(200);
  });

  test('a gateway restarted quickly at the same address (endpoint unchanged) is re-pushed by the periodic check', async () => {
    kubelet.pause();
    const { trafficPort, adminPort } = gw1;
    const logged = op.logs().filter((l) => l.msg === 'gateway does not run the current configuration; pushing').length;
    await gw1.close();
    gw1 = await startGateway(undefined, { adminToken: ADMIN_TOKEN, port: trafficPort, adminPort });
    gateways.push(gw1);
    kubelet.replaceGateway('gw-1', gw1);
    await waitFor(() => gw1.table, 6000, 're-push after restart');
    expect(gw1.table!.version).toBe(gw0.table!.version);
    await waitFor(
      () => op.logs().filter((l) => l.msg === 'gateway does not run the current configuration; pushing').length > logged,
      3000,
      'the check noticed',
    );
    kubelet.pause(false);
  });

  test('a second route claiming a served model name is DuplicateModel; the older one keeps it', async () => {
    kube.create(route('claude-d-copy', upB.url, { model: 'claude-d', upstreamModel: 'never-used' }));
    await waitFor(() => condition('ModelRoute', 'claude-d-copy', 'Accepted')?.status === 'False', 5000, 'DuplicateModel');
    expect(condition('ModelRoute', 'claude-d-copy', 'Accepted')).toMatchObject({
      reason: 'DuplicateModel',
      message: `model name 'claude-d' is already served by ModelRoute ${NS}/claude-d`,
    });
    expect(condition('ModelRoute', 'claude-d', 'Accepted')?.status).toBe('True');
    const before = upB.received.length;
    expect((await ask(gw0, 'claude-d')).status).toBe(200);
    expect(upB.received.length).toBe(before);
    kube.delete('ModelRoute', NS, 'claude-d-copy');
  });

  test('the API server goes away, history is compacted meanwhile: the operator relists and misses nothing', async () => {
    const listsBefore = kube.requests.filter((r) => r.verb === 'list').length;
    await kube.stop();
    kube.create(route('claude-c', upA.url, { upstreamModel: 'claude-upstream-c' }));
    kube.delete('ModelRoute', NS, 'needs-secret');
    kube.compact();
    await new Promise((r) => setTimeout(r, 300));
    await kube.start();
    await waitFor(async () => (await ask(gw0, 'claude-c')).status === 200, 10_000, 'route created while the server was down');
    expect((await ask(gw0, 'needs-secret')).status).toBe(404);
    expect((await ask(gw1, 'claude-c')).status).toBe(200);
    // 410 Expired made every informer list again.
    await waitFor(() => kube.requests.filter((r) => r.verb === 'list').length >= listsBefore + 4, 5000, 'relists');
    await waitFor(() => condition('ModelRoute', 'claude-c', 'Programmed')?.status === 'True', 5000, 'status of the new route');
    expect(op.proc.exitCode).toBeNull();
  });

  test('the server expires open watches (ERROR 410): informers relist and keep up', async () => {
    const listsBefore = kube.requests.filter((r) => r.verb === 'list').length;
    kube.expireWatches();
    await waitFor(() => kube.requests.filter((r) => r.verb === 'list').length >= listsBefore + 4, 5000, 'relists after 410');
    const r = kube.get('ModelRoute', NS, 'claude-c');
    r.spec.aliases = ['c-after-expiry'];
    kube.update(r);
    await waitFor(async () => (await ask(gw0, 'c-after-expiry')).status === 200, 5000, 'change after relist');
  });

  test('a half-open watch is noticed by the watchdog; status write failures are retried', async () => {
    kube.freezeWatches();
    kube.failNext(500, 2, (r) => r.verb === 'patch');
    const r = kube.get('ModelRoute', NS, 'claude-c');
    r.spec.aliases = ['c-after-freeze'];
    kube.update(r);
    await waitFor(async () => (await ask(gw0, 'c-after-freeze')).status === 200, 12_000, 'change seen after the watchdog restarted the watch');
    await op.waitForLog('watch silent for too long; restarting it');
    await waitFor(
      () => status('ModelRoute', 'claude-c')?.observedGeneration === 3 && condition('ModelRoute', 'claude-c', 'Programmed')?.status === 'True',
      10_000,
      'status after failed writes',
    );
    expect(kube.requests.filter((q) => q.verb === 'patch' && q.code === 500)).toHaveLength(2);
  });

  test('deleting the ApiKey revokes it: 401', async () => {
    kube.delete('ApiKey', NS, 'team-a');
    await waitFor(async () => (await ask(gw0, 'claude-test')).status === 401, 3000, '401 after delete');
    expect((await ask(gw1, 'claude-test')).status).toBe(401);
    expect((await ask(gw0, 'claude-test')).body.error.type).toBe('authentication_error');
  });

  test('SIGTERM: exits 0 and releases the Lease', async () => {
    expect(await op.stop('SIGTERM')).toBe(0);
    const lease = kube.get('Lease', 'switchyard', 'switchyard-operator', 'coordination.k8s.io');
    expect(lease.spec.holderIdentity).toBe('');
    expect(lease.spec.renewTime).toMatch(/\.\d{6}Z$/);
  });

  test('secrets never appear in logs, statuses or Events', () => {
    const everything = [op.output.join('\n'), JSON.stringify(kube.list('ModelRoute')), JSON.stringify(kube.list('ApiKey')), JSON.stringify(kube.events())].join(
      '\n',
    );
    for (const secret of [CLIENT_KEY, UPSTREAM_KEY, ROTATED_KEY, ADMIN_TOKEN]) expect(everything).not.toContain(secret);
    expect(op.logs().filter((l) => l.level === 'error')).toEqual([]);
  });

  test('RBAC: every request maps to operator/src/rbac.ts, and every listed permission was used', () => {
    const listed = new Set(OPERATOR_PERMISSIONS.flatMap((p) => p.verbs.map((v) => `${p.apiGroup}|${p.resource}|${v}`)));
    const used = new Set(kube.requests.filter((r) => r.token === 't' && !r.resource.startsWith('/')).map((r) => `${r.apiGroup}|${r.resource}|${r.verb}`));
    // Non-resource URLs (issuer discovery) are granted by path. This fake publishes no issuer: discovery
    // answers 404, so the keys are never asked for (sa-auth-operator.test.ts reads both).
    const paths = new Set(kube.requests.filter((r) => r.token === 't' && r.resource.startsWith('/')).map((r) => `${r.verb} ${r.resource}`));
    expect([...paths].sort()).toEqual(OPERATOR_NON_RESOURCE_URLS.slice(0, 1).map((u) => `get ${u}`));
    expect([...used].filter((u) => !listed.has(u)).sort()).toEqual([]);
    expect([...listed].filter((l) => !used.has(l)).sort()).toEqual([]);
    // Status writes are merge patches (client-node defaults to json-patch unless told).
    for (const r of kube.requests.filter((q) => q.verb === 'patch')) expect(r.contentType).toBe('application/merge-patch+json');
  });
});

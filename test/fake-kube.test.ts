import { FakeKube, microTime, startFakeKube, type WatchEvent } from './helpers/fake-kube';
import { apiKey, endpointSlice, route, upstreamSecret } from './helpers/cluster-fixtures';
import { waitFor } from './helpers/http-server';

/**
 * The fake API server is what the operator tests trust to behave like kube-apiserver, so its
 * protocol is pinned here over plain HTTP (the operator suites then drive it with client-node).
 */
const MR = '/apis/switchyard.dev/v1alpha1/namespaces/team-a/modelroutes';

describe('fake Kubernetes API server', () => {
  let kube: FakeKube;
  const call = async (method: string, path: string, body?: unknown, contentType = 'application/json', token = 't') => {
    const res = await fetch(kube.url + path, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': contentType },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as any };
  };

  /** A watch stream read line by line, as client-node reads it. */
  const watch = async (path: string) => {
    const ac = new AbortController();
    const events: WatchEvent[] = [];
    const res = await fetch(kube.url + path, { headers: { authorization: 'Bearer t' }, signal: ac.signal });
    let ended = false;
    const done = (async () => {
      const reader = res.body!.getReader();
      let buf = '';
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += Buffer.from(value).toString('utf8');
          let i: number;
          while ((i = buf.indexOf('\n')) >= 0) {
            events.push(JSON.parse(buf.slice(0, i)));
            buf = buf.slice(i + 1);
          }
        }
      } catch {
        /* aborted */
      }
      ended = true;
    })();
    return { status: res.status, events, ended: () => ended, stop: () => ac.abort(), done };
  };

  beforeEach(async () => {
    kube = await startFakeKube({ bookmarkIntervalMs: 100 });
  });
  afterEach(async () => {
    await kube.stop();
  });

  test('401 without the bearer token; 404 for unknown resources and subresources', async () => {
    expect((await call('GET', MR, undefined, 'application/json', 'wrong')).status).toBe(401);
    const r = await call('GET', '/apis/switchyard.dev/v1alpha1/namespaces/team-a/widgets');
    expect(r.status).toBe(404);
    kube.create(upstreamSecret('s', 'v'));
    expect((await call('GET', '/api/v1/namespaces/team-a/secrets/s/status')).status).toBe(404);
  });

  test('create: 201 with uid, creationTimestamp, RV, generation 1, defaults, status dropped; 409 on a clash; 422 on schema and CEL', async () => {
    const obj: any = route('r1', 'http://u', { aliases: ['a'] });
    obj.status = { gateways: '9/9' };
    const r = await call('POST', MR, obj);
    expect(r.status).toBe(201);
    expect(r.body.metadata).toMatchObject({ name: 'r1', namespace: 'team-a', generation: 1 });
    expect(r.body.metadata.uid).toBeTruthy();
    expect(r.body.metadata.creationTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(r.body.status).toBeUndefined();
    expect(r.body.spec.targets[0]).toMatchObject({ weight: 1, priority: 0 });
    const again = await call('POST', MR, obj);
    expect(again).toMatchObject({ status: 409, body: { kind: 'Status', reason: 'AlreadyExists', code: 409 } });
    const bad: any = route('r2', 'http://u', { aliases: ['r2'] });
    const inv = await call('POST', MR, bad);
    expect(inv.status).toBe(422);
    expect(inv.body.reason).toBe('Invalid');
    expect(inv.body.message).toContain('an alias must not repeat spec.model');
    const gen = await call('POST', '/apis/events.k8s.io/v1/namespaces/team-a/events', {
      metadata: { generateName: 'x.' },
      eventTime: microTime(),
      reportingController: 'c',
      reportingInstance: 'i',
      action: 'A',
      reason: 'R',
      type: 'Normal',
    });
    expect(gen.body.metadata.name).toMatch(/^x\.[0-9a-f]{5}$/);
  });

  test('list: resourceVersion, items with/without apiVersion, selectors, paging and expired continue', async () => {
    kube.create(route('a', 'http://u'));
    kube.create(route('b', 'http://u'));
    kube.create(route('c', 'http://u', {}, 'other'));
    kube.create(upstreamSecret('s1', 'v'));
    kube.create({ ...upstreamSecret('s2', 'v'), type: 'helm.sh/release.v1' });
    kube.create(endpointSlice('gw-1', 9090, [{ address: '10.0.0.1', pod: 'p1' }]));
    const all = await call('GET', '/apis/switchyard.dev/v1alpha1/modelroutes');
    expect(all.body.kind).toBe('ModelRouteList');
    expect(all.body.items.map((i: any) => `${i.metadata.namespace}/${i.metadata.name}`)).toEqual(['other/c', 'team-a/a', 'team-a/b']);
    expect(all.body.items[0].kind).toBe('ModelRoute');
    expect(Number(all.body.metadata.resourceVersion)).toBeGreaterThan(0);
    const secrets = await call('GET', '/api/v1/secrets?fieldSelector=type!%3Dhelm.sh%2Frelease.v1');
    expect(secrets.body.items.map((i: any) => i.metadata.name)).toEqual(['s1']);
    expect(secrets.body.items[0].kind).toBeUndefined();
    expect((await call('GET', '/api/v1/secrets?fieldSelector=spec.x%3D1')).status).toBe(400);
    expect((await call('GET', `${MR}?fieldSelector=type%3DOpaque`)).status).toBe(400);
    const slices = await call(
      'GET',
      '/apis/discovery.k8s.io/v1/namespaces/switchyard/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dswitchyard-gateway',
    );
    expect(slices.body.items).toHaveLength(1);
    expect((await call('GET', '/apis/discovery.k8s.io/v1/endpointslices?labelSelector=kubernetes.io%2Fservice-name%20in%20(x,y)')).body.items).toHaveLength(0);
    expect((await call('GET', '/apis/discovery.k8s.io/v1/endpointslices?labelSelector=!kubernetes.io%2Fservice-name')).body.items).toHaveLength(0);
    const page1 = await call('GET', '/apis/switchyard.dev/v1alpha1/modelroutes?limit=2');
    expect(page1.body.items).toHaveLength(2);
    const page2 = await call('GET', `/apis/switchyard.dev/v1alpha1/modelroutes?limit=2&continue=${encodeURIComponent(page1.body.metadata.continue)}`);
    expect(page2.body.items).toHaveLength(1);
    expect(page2.body.metadata.continue).toBeUndefined();
    kube.create(route('d', 'http://u'));
    kube.compact();
    expect((await call('GET', `/apis/switchyard.dev/v1alpha1/modelroutes?limit=2&continue=${encodeURIComponent(page1.body.metadata.continue)}`)).status).toBe(
      410,
    );
  });

  test('watch: synthetic ADDED without RV, then live MODIFIED and DELETED; replay after an RV', async () => {
    kube.create(route('a', 'http://u'));
    const w = await watch(`${MR}?watch=true`);
    expect(w.status).toBe(200);
    await waitFor(() => w.events.length === 1);
    expect(w.events[0]).toMatchObject({ type: 'ADDED', object: { kind: 'ModelRoute', metadata: { name: 'a' } } });
    const rv = w.events[0].object.metadata.resourceVersion;
    kube.mergePatch('ModelRoute', 'team-a', 'a', { spec: { model: 'a2' } });
    kube.delete('ModelRoute', 'team-a', 'a');
    await waitFor(() => w.events.length === 3);
    expect(w.events.map((e) => e.type)).toEqual(['ADDED', 'MODIFIED', 'DELETED']);
    expect(w.events[1].object.metadata.generation).toBe(2);
    expect(Number(w.events[2].object.metadata.resourceVersion)).toBeGreaterThan(Number(w.events[1].object.metadata.resourceVersion));
    w.stop();
    const replay = await watch(`${MR}?watch=true&resourceVersion=${rv}`);
    await waitFor(() => replay.events.length === 2);
    expect(replay.events.map((e) => e.type)).toEqual(['MODIFIED', 'DELETED']);
    replay.stop();
  });

  test('watch: a stale RV after compaction gets ERROR 410 Expired and the stream ends', async () => {
    const o = kube.create(route('a', 'http://u'));
    kube.compact();
    const w = await watch(`${MR}?watch=true&resourceVersion=${Number(o.metadata.resourceVersion) - 1}`);
    await w.done;
    expect(w.events).toHaveLength(1);
    expect(w.events[0]).toMatchObject({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired' } });
    const live = await watch(`${MR}?watch=true&resourceVersion=${o.metadata.resourceVersion}`);
    await waitFor(() => kube.watchCount('modelroutes') === 1);
    kube.expireWatches();
    await live.done;
    expect(live.events.at(-1)).toMatchObject({ type: 'ERROR', object: { code: 410 } });
  });

  test('watch: HTTP 410 mode, selector transitions, bookmarks, timeoutSeconds, endWatches', async () => {
    await kube.stop();
    kube = await startFakeKube({ bookmarkIntervalMs: 100, expiredWatchAs: 'http' });
    kube.create(endpointSlice('gw-1', 9090, [{ address: '10.0.0.1', pod: 'p1' }]));
    kube.compact();
    expect((await watch('/apis/discovery.k8s.io/v1/endpointslices?watch=true&resourceVersion=1')).status).toBe(410);
    const sel = 'labelSelector=kubernetes.io%2Fservice-name%3Dswitchyard-gateway';
    const w = await watch(`/apis/discovery.k8s.io/v1/namespaces/switchyard/endpointslices?watch=true&allowWatchBookmarks=true&${sel}`);
    await waitFor(() => w.events.some((e) => e.type === 'BOOKMARK'));
    kube.mergePatch('EndpointSlice', 'switchyard', 'gw-1', { metadata: { labels: { 'kubernetes.io/service-name': 'other' } } });
    kube.mergePatch('EndpointSlice', 'switchyard', 'gw-1', { metadata: { labels: { 'kubernetes.io/service-name': 'switchyard-gateway' } } });
    await waitFor(() => w.events.filter((e) => e.type !== 'BOOKMARK').length === 3);
    expect(w.events.filter((e) => e.type !== 'BOOKMARK').map((e) => e.type)).toEqual(['ADDED', 'DELETED', 'ADDED']);
    expect(w.events.find((e) => e.type === 'BOOKMARK')!.object).toEqual({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { resourceVersion: expect.any(String) },
    });
    kube.endWatches();
    await w.done;
    const t = await watch(`${MR}?watch=true&timeoutSeconds=1`);
    const started = Date.now();
    await t.done;
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  });

  test('status subresource: main writes keep status, /status writes keep the rest; generation follows spec only', async () => {
    const created = (await call('POST', MR, route('a', 'http://u'))).body;
    const st = await call(
      'PATCH',
      `${MR}/a/status`,
      { status: { gateways: '1/1' }, spec: { model: 'ignored' }, metadata: { labels: { x: 'y' } } },
      'application/merge-patch+json',
    );
    expect(st.status).toBe(200);
    expect(st.body.status).toEqual({ gateways: '1/1' });
    expect(st.body.spec.model).toBe('a');
    expect(st.body.metadata.labels).toBeUndefined();
    expect(st.body.metadata.generation).toBe(1);
    const put = await call('PUT', `${MR}/a`, { ...st.body, spec: { ...st.body.spec, model: 'a2' }, status: { gateways: 'x' } });
    expect(put.body.status).toEqual({ gateways: '1/1' });
    expect(put.body.metadata.generation).toBe(2);
    const labelOnly = await call('PUT', `${MR}/a`, { ...put.body, metadata: { ...put.body.metadata, labels: { team: 'a' } } });
    expect(labelOnly.body.metadata.generation).toBe(2);
    // A no-op write keeps the RV.
    const noop = await call('PUT', `${MR}/a`, labelOnly.body);
    expect(noop.body.metadata.resourceVersion).toBe(labelOnly.body.metadata.resourceVersion);
    expect(
      (await call('PUT', `${MR}/a`, { ...labelOnly.body, metadata: { ...labelOnly.body.metadata, resourceVersion: created.metadata.resourceVersion } })).body
        .reason,
    ).toBe('Conflict');
    const { resourceVersion: _rv, ...noRv } = labelOnly.body.metadata;
    expect((await call('PUT', `${MR}/a`, { ...labelOnly.body, metadata: noRv })).status).toBe(422);
    expect((await call('PATCH', `${MR}/a/status`, { metadata: { resourceVersion: '1' }, status: {} }, 'application/merge-patch+json')).status).toBe(409);
    expect((await call('PATCH', `${MR}/a`, { spec: {} }, 'application/strategic-merge-patch+json')).status).toBe(415);
    expect((await call('PATCH', `${MR}/a`, { spec: {} })).status).toBe(415);
    const jp = await call('PATCH', `${MR}/a`, [{ op: 'replace', path: '/spec/model', value: 'a3' }], 'application/json-patch+json');
    expect(jp.body.spec.model).toBe('a3');
    expect(jp.body.metadata.generation).toBe(3);
    const badStatus = await call(
      'PATCH',
      `${MR}/a/status`,
      { status: { conditions: [{ type: 'Accepted', status: 'Yes', reason: 'x', lastTransitionTime: '2025-01-01T00:00:00Z' }] } },
      'application/merge-patch+json',
    );
    expect(badStatus.status).toBe(422);
  });

  test('Secrets fold stringData into base64 data and default their type', async () => {
    const r = await call('POST', '/api/v1/namespaces/team-a/secrets', { metadata: { name: 's' }, stringData: { apiKey: 'sk-1' } });
    expect(r.body.data).toEqual({ apiKey: Buffer.from('sk-1').toString('base64') });
    expect(r.body.stringData).toBeUndefined();
    expect(r.body.type).toBe('Opaque');
    expect((await call('POST', '/api/v1/namespaces/team-a/secrets', { metadata: { name: 's2' }, data: { k: 'not base64!' } })).status).toBe(400);
  });

  test('Leases and events.k8s.io Events need MicroTime; Lease updates need the current RV', async () => {
    const L = '/apis/coordination.k8s.io/v1/namespaces/switchyard/leases';
    expect((await call('POST', L, { metadata: { name: 'l' }, spec: { holderIdentity: 'a', renewTime: new Date().toISOString() } })).status).toBe(400);
    const l = await call('POST', L, { metadata: { name: 'l' }, spec: { holderIdentity: 'a', renewTime: microTime(), leaseDurationSeconds: 15 } });
    expect(l.status).toBe(201);
    const u = await call('PUT', `${L}/l`, { ...l.body, spec: { ...l.body.spec, holderIdentity: 'b' } });
    expect(u.status).toBe(200);
    expect((await call('PUT', `${L}/l`, { ...l.body, spec: { ...l.body.spec, holderIdentity: 'c' } })).status).toBe(409);
    const E = '/apis/events.k8s.io/v1/namespaces/team-a/events';
    const ev = {
      metadata: { generateName: 'r.' },
      reportingController: 'switchyard.dev/operator',
      reportingInstance: 'x',
      action: 'Compile',
      reason: 'SecretNotFound',
      type: 'Warning',
    };
    expect((await call('POST', E, { ...ev, eventTime: new Date().toISOString() })).status).toBe(400);
    expect((await call('POST', E, { ...ev, eventTime: microTime(), reason: undefined })).status).toBe(422);
    expect((await call('POST', E, { ...ev, eventTime: microTime() })).status).toBe(201);
    expect(kube.events('team-a')).toHaveLength(1);
  });

  test('delete with finalizers marks deletionTimestamp, and removing the finalizer deletes', async () => {
    const o: any = apiKey('k', 'client');
    o.metadata.finalizers = ['x/y'];
    kube.create(o);
    const d = await call('DELETE', '/apis/switchyard.dev/v1alpha1/namespaces/team-a/apikeys/k');
    expect(d.body.metadata.deletionTimestamp).toBeTruthy();
    expect(d.body.metadata.generation).toBe(2);
    kube.mergePatch('ApiKey', 'team-a', 'k', { metadata: { finalizers: null } });
    expect(kube.get('ApiKey', 'team-a', 'k')).toBeUndefined();
  });

  test('request log with RBAC verbs, injected failures, and a restart that keeps the store', async () => {
    kube.create(route('a', 'http://u'));
    kube.failNext(500, 1, (r) => r.verb === 'list');
    expect((await call('GET', MR)).status).toBe(500);
    expect((await call('GET', MR)).status).toBe(200);
    await call('GET', `${MR}/a`);
    const w = await watch(`${MR}?watch=true`);
    await kube.restart(50);
    await w.done;
    expect(kube.get('ModelRoute', 'team-a', 'a').spec.model).toBe('a');
    expect((await call('GET', `${MR}/a`)).status).toBe(200);
    expect(kube.requests.map((r) => `${r.verb} ${r.apiGroup}/${r.resource} ${r.code}`)).toEqual([
      'list switchyard.dev/modelroutes 500',
      'list switchyard.dev/modelroutes 200',
      'get switchyard.dev/modelroutes 200',
      'watch switchyard.dev/modelroutes 200',
      'get switchyard.dev/modelroutes 200',
    ]);
  });
});

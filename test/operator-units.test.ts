import { silentLogger } from '../gateway/src/log';
import type { ObjectResult } from '../gateway/src/config/compile';
import { gatewayEndpoints } from '../operator/src/endpoints';
import { microTime, rejectionEvent } from '../operator/src/events';
import { LeaderElector, type Lease, type LeaseClient } from '../operator/src/leader';
import { parseOperatorArgs, UsageError } from '../operator/src/options';
import { desiredStatus, statusDiffers, targetsSummary, type SyncView } from '../operator/src/status';
import { apiKey, route } from './helpers/cluster-fixtures';
import { sleep, waitFor } from './helpers/http-server';

/** The operator's pure parts, in-process (client-node stays out of jest). */

describe('gatewayEndpoints', () => {
  const slice = (addressType: string, port: number | undefined, eps: any[], portName = 'admin') => ({
    addressType,
    ports: [{ name: 'http', port: 8080 }, ...(port ? [{ name: portName, port }] : [])],
    endpoints: eps,
  });
  const ep = (address: string, uid: string, conditions: any = {}) => ({
    addresses: [address],
    conditions,
    targetRef: { kind: 'Pod', name: `pod-${uid}`, uid },
  });

  test('ready, unset and not-ready-but-starting endpoints are targets; terminating ones are not', () => {
    const eps = gatewayEndpoints(
      [
        slice('IPv4', 9090, [
          ep('10.0.0.1', 'a', { ready: true }),
          ep('10.0.0.2', 'b'),
          ep('10.0.0.3', 'c', { ready: false }),
          ep('10.0.0.4', 'd', { ready: false, terminating: true }),
        ]),
      ],
      'admin',
    );
    expect(eps.map((e) => [e.url, e.ready, e.pod])).toEqual([
      ['http://10.0.0.1:9090', true, 'pod-a'],
      ['http://10.0.0.2:9090', true, 'pod-b'],
      ['http://10.0.0.3:9090', false, 'pod-c'],
    ]);
  });

  test('the admin port is found by name; slices without it are skipped', () => {
    expect(gatewayEndpoints([slice('IPv4', undefined, [ep('10.0.0.1', 'a')])], 'admin')).toEqual([]);
    expect(gatewayEndpoints([slice('IPv4', 9999, [ep('10.0.0.1', 'a')], 'mgmt')], 'mgmt')[0].url).toBe('http://10.0.0.1:9999');
  });

  test('a pod in two slices (dual-stack, or moving between slices) counts once, IPv4 first; IPv6 is bracketed; FQDN ignored', () => {
    const eps = gatewayEndpoints(
      [slice('IPv6', 9090, [ep('fd00::1', 'a'), ep('fd00::2', 'b')]), slice('IPv4', 9090, [ep('10.0.0.1', 'a')]), slice('FQDN', 9090, [ep('gw.example', 'c')])],
      'admin',
    );
    expect(eps.map((e) => e.url)).toEqual(['http://10.0.0.1:9090', 'http://[fd00::2]:9090']);
  });
});

describe('status', () => {
  const now = new Date('2026-01-02T03:04:05.678Z');
  const sync = (synced: number, total: number, failures: string[] = []): SyncView => ({ synced, total, failures, service: 'switchyard/gw' });
  const obj = (status?: any) => ({
    ...route('r', 'http://u', { extraTargets: [{ provider: 'openai', model: 'gpt-4.1', priority: 1 }] }),
    status,
    metadata: { name: 'r', namespace: 'team-a', generation: 3 },
  });
  const ok: ObjectResult = {
    kind: 'ModelRoute',
    key: 'team-a/r',
    generation: 3,
    accepted: true,
    reason: 'Accepted',
    message: 'serves r with 2 target(s)',
    errors: [],
    priced: false,
  };
  const bad: ObjectResult = {
    ...ok,
    accepted: false,
    reason: 'SecretNotFound',
    message: 'spec.targets.0.credentialsRef: Secret team-a/x not found',
    priced: undefined,
  };

  test('an accepted, fully synced route', () => {
    const s: any = desiredStatus(obj(), ok, sync(2, 2), now);
    expect(s).toMatchObject({ observedGeneration: 3, gateways: '2/2', targets: 'anthropic/r-upstream, openai/gpt-4.1 (fallback)' });
    expect(s.conditions.map((c: any) => [c.type, c.status, c.reason, c.observedGeneration, c.lastTransitionTime])).toEqual([
      ['Accepted', 'True', 'Accepted', 3, '2026-01-02T03:04:05Z'],
      ['Programmed', 'True', 'Programmed', 3, '2026-01-02T03:04:05Z'],
      ['Priced', 'False', 'NotPriced', 3, '2026-01-02T03:04:05Z'],
    ]);
  });

  test('Programmed: Pending while pushes are in flight, PushFailed with the reasons, NoReadyGateways with none, Invalid when rejected', () => {
    const prog = (r: ObjectResult, v: SyncView) => (desiredStatus(obj(), r, v, now) as any).conditions.find((c: any) => c.type === 'Programmed');
    expect(prog(ok, sync(1, 2))).toMatchObject({
      status: 'Unknown',
      reason: 'Pending',
      message: 'running on 1 of 2 ready gateway pod(s); pushing to the others',
    });
    expect(prog(ok, sync(1, 2, ['pod gw-1: ECONNREFUSED']))).toMatchObject({
      status: 'False',
      reason: 'PushFailed',
      message: expect.stringContaining('pod gw-1: ECONNREFUSED'),
    });
    expect(prog(ok, sync(0, 0))).toMatchObject({ status: 'False', reason: 'NoReadyGateways', message: 'no ready gateway pods behind Service switchyard/gw' });
    expect(prog(bad, sync(2, 2))).toMatchObject({ status: 'False', reason: 'Invalid' });
    expect((desiredStatus(obj(), bad, sync(2, 2), now) as any).gateways).toBe('0/2');
  });

  test("lastTransitionTime moves only when a condition flips; other owners' conditions and fields survive", () => {
    const first: any = desiredStatus(obj(), ok, sync(2, 2), now);
    const current = {
      ...first,
      usage: { spentUSD: 1 },
      conditions: [
        { type: 'BudgetExceeded', status: 'False', reason: 'UnderBudget', message: '', lastTransitionTime: '2025-01-01T00:00:00Z' },
        ...first.conditions,
      ],
    };
    const later = new Date('2026-02-01T00:00:00Z');
    const same: any = desiredStatus(obj(current), ok, sync(2, 2), later);
    expect(statusDiffers(current, same)).toBe(false);
    expect(same.conditions[0].type).toBe('BudgetExceeded');
    const flipped: any = desiredStatus(obj(current), bad, sync(2, 2), later);
    expect(statusDiffers(current, flipped)).toBe(true);
    const by = Object.fromEntries(flipped.conditions.map((c: any) => [c.type, c]));
    expect(by.Accepted.lastTransitionTime).toBe('2026-02-01T00:00:00Z');
    expect(by.BudgetExceeded.lastTransitionTime).toBe('2025-01-01T00:00:00Z');
    // A status write changes only fields the operator owns: usage is not in it.
    expect(flipped.usage).toBeUndefined();
  });

  test('ApiKeys get no Priced condition and no targets', () => {
    const k = { ...apiKey('k', 'client'), metadata: { name: 'k', namespace: 'team-a', generation: 1 } };
    const s: any = desiredStatus(k, { ...ok, kind: 'ApiKey', key: 'team-a/k', priced: undefined }, sync(1, 1), now);
    expect(s.conditions.map((c: any) => c.type)).toEqual(['Accepted', 'Programmed']);
    expect(s.targets).toBeUndefined();
  });

  test('targetsSummary orders fallbacks last and bounds its length', () => {
    expect(
      targetsSummary([
        { provider: 'openai', model: 'b', priority: 1 },
        { provider: 'anthropic', model: 'a' },
      ]),
    ).toBe('anthropic/a, openai/b (fallback)');
    expect(targetsSummary(undefined)).toBe('');
    expect(targetsSummary(Array.from({ length: 16 }, () => ({ provider: 'anthropic', model: 'x'.repeat(40) }))).length).toBe(256);
  });

  test('rejection Events are events.k8s.io/v1 with MicroTime and no secret values', () => {
    const ev: any = rejectionEvent({ ...obj(), metadata: { name: 'r', namespace: 'team-a', uid: 'u1', generation: 3 } }, bad, 'op-1', now);
    expect(ev).toMatchObject({
      apiVersion: 'events.k8s.io/v1',
      type: 'Warning',
      reason: 'SecretNotFound',
      action: 'Compile',
      eventTime: '2026-01-02T03:04:05.678000Z',
      regarding: { kind: 'ModelRoute', uid: 'u1' },
      metadata: { generateName: 'r.', namespace: 'team-a' },
    });
    expect(microTime(new Date(0))).toBe('1970-01-01T00:00:00.000000Z');
  });
});

describe('operator options', () => {
  const env = { SWITCHYARD_ADMIN_TOKEN: 'tok' };
  test('defaults', () => {
    const o = parseOperatorArgs(['--gateway-service', 'switchyard/gw'], { ...env, POD_NAME: 'op-7d9' });
    expect(o).toMatchObject({
      gatewayNamespace: 'switchyard',
      gatewayService: 'gw',
      adminPortName: 'admin',
      leaseNamespace: 'switchyard',
      leaseName: 'switchyard-operator',
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2000,
      watchTimeoutSeconds: 300,
      watchdogMs: 360_000,
      checkIntervalMs: 15_000,
    });
    expect(o.identity).toMatch(/^op-7d9_[0-9a-f]{8}$/);
    expect(o.namespaces).toEqual([]);
    expect(parseOperatorArgs(['--gateway-service', 'a/b', '--namespace', 'team-a'], { ...env, POD_NAMESPACE: 'ops' })).toMatchObject({
      namespaces: ['team-a'],
      leaseNamespace: 'ops',
    });
    // Repeated and comma-separated both work, duplicates collapse.
    expect(
      parseOperatorArgs(['--gateway-service', 'a/b', '--namespace', 'team-a,team-b', '--namespace', 'team-c', '--namespace', 'team-a'], env).namespaces,
    ).toEqual(['team-a', 'team-b', 'team-c']);
    expect(() => parseOperatorArgs(['--gateway-service', 'a/b', '--namespace', 'Team_A'], env)).toThrow(/--namespace: 'Team_A' is not a namespace name/);
  });
  test('refusals', () => {
    expect(parseOperatorArgs(['--gateway-service', 'a/b', '--lease-name', 'prod-switchyard-operator'], env).leaseName).toBe('prod-switchyard-operator');
    expect(() => parseOperatorArgs(['--gateway-service', 'a/b', '--lease-name', 'Not_A_Name'], env)).toThrow(/--lease-name/);
    expect(() => parseOperatorArgs([], env)).toThrow(UsageError);
    expect(() => parseOperatorArgs(['--gateway-service', 'just-a-name'], env)).toThrow(/NAMESPACE\/NAME/);
    expect(() => parseOperatorArgs(['--gateway-service', 'a/b'], {})).toThrow(/SWITCHYARD_ADMIN_TOKEN/);
    expect(() => parseOperatorArgs(['--gateway-service', 'a/b', '--lease-duration-seconds', '5', '--renew-deadline-seconds', '5'], env)).toThrow(/greater/);
  });
  test('ServiceAccount issuer keys: audience switchyard, read every 5 minutes by default; 0 turns the reads off', () => {
    expect(parseOperatorArgs(['--gateway-service', 'a/b'], env)).toMatchObject({ saAudience: 'switchyard', saKeysRefreshMs: 300_000 });
    expect(parseOperatorArgs(['--gateway-service', 'a/b', '--sa-audience', 'llm', '--sa-keys-refresh-seconds', '0'], env)).toMatchObject({
      saAudience: 'llm',
      saKeysRefreshMs: 0,
    });
    expect(() => parseOperatorArgs(['--gateway-service', 'a/b', '--sa-audience', ' '], env)).toThrow(/--sa-audience/);
    expect(() => parseOperatorArgs(['--gateway-service', 'a/b', '--sa-keys-refresh-seconds', '-1'], env)).toThrow(/--sa-keys-refresh-seconds/);
  });
});

describe('LeaderElector (in-memory Lease store)', () => {
  /** A Lease API with resourceVersion conflicts, and a switch that cuts one client off. */
  function store() {
    let lease: Lease | undefined;
    let rv = 0;
    const cut = new Set<string>();
    const client = (who: string): LeaseClient => {
      const guard = () => {
        if (cut.has(who)) throw Object.assign(new Error('connection refused'), { code: 0 });
      };
      return {
        get: async () => (guard(), lease && structuredClone(lease)),
        create: async (_ns, l) => {
          guard();
          if (lease) throw Object.assign(new Error('exists'), { code: 409 });
          lease = { ...structuredClone(l), metadata: { ...l.metadata, resourceVersion: String(++rv) } };
          return structuredClone(lease);
        },
        replace: async (_ns, _n, l) => {
          guard();
          if (!lease || l.metadata.resourceVersion !== lease.metadata.resourceVersion) throw Object.assign(new Error('conflict'), { code: 409 });
          for (const t of [l.spec?.renewTime, l.spec?.acquireTime]) if (t) expect(t).toMatch(/\.\d{6}Z$/);
          lease = { ...structuredClone(l), metadata: { ...l.metadata, resourceVersion: String(++rv) } };
          return structuredClone(lease);
        },
      };
    };
    return { client, cut, lease: () => lease };
  }

  const elector = (s: ReturnType<typeof store>, id: string, events: string[]) =>
    new LeaderElector({
      client: s.client(id),
      namespace: 'ns',
      name: 'l',
      identity: id,
      leaseDurationMs: 600,
      renewDeadlineMs: 400,
      retryPeriodMs: 60,
      log: silentLogger,
      onStartedLeading: () => events.push(`${id}+`),
      onStoppedLeading: () => events.push(`${id}-`),
    });

  test('one leader at a time; release hands over at once; a cut-off leader steps down and the other takes over after the lease', async () => {
    const s = store();
    const events: string[] = [];
    const a = elector(s, 'a', events);
    const b = elector(s, 'b', events);
    void a.run();
    await waitFor(() => a.isLeader, 2000);
    void b.run();
    await sleep(300);
    expect(b.isLeader).toBe(false);
    expect(s.lease()!.spec).toMatchObject({ holderIdentity: 'a', leaseTransitions: 0 });

    await a.release();
    expect(s.lease()!.spec!.holderIdentity).toBe('');
    const released = Date.now();
    await waitFor(() => b.isLeader, 2000);
    expect(Date.now() - released).toBeLessThan(500);
    expect(s.lease()!.spec).toMatchObject({ holderIdentity: 'b', leaseTransitions: 1 });

    const c = elector(s, 'c', events);
    void c.run();
    await sleep(200);
    s.cut.add('b');
    const cutAt = Date.now();
    await waitFor(() => events.includes('b-'), 2000);
    expect(b.isLeader).toBe(false);
    await waitFor(() => c.isLeader, 3000);
    // c waited out b's lease, counted from c's own sighting of the last renewal.
    expect(Date.now() - cutAt).toBeGreaterThanOrEqual(400);
    expect(events).toEqual(['a+', 'b+', 'b-', 'c+']);
    await c.release();
  });
});

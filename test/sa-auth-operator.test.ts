import type { Gateway } from '../gateway/src/gateway';
import { OPERATOR_NON_RESOURCE_URLS } from '../operator/src/rbac';
import { clientSecret, NS, route, upstreamSecret } from './helpers/cluster-fixtures';
import { startFakeAnthropic, type FakeAnthropic } from './helpers/fake-anthropic';
import { validateObject } from './helpers/crd-validation';
import { startFakeKube, type FakeKube } from './helpers/fake-kube';
import { startGateway } from './helpers/gateway';
import { waitFor } from './helpers/http-server';
import { FakeKubelet } from './helpers/kubelet';
import { ADMIN_TOKEN, startOperator, type OperatorProcess } from './helpers/operator-process';
import { ISSUER, jwksOf, mintToken, signingKey, type SigningKey } from './helpers/sa-issuer';

/**
 * The real operator reads the fake API server's ServiceAccount issuer discovery and JWKS (a key
 * pair this test owns) with its own credentials, and pushes them with the ServiceAccount → ApiKey
 * map to a real gateway, which then admits tokens the test mints. The steps build on each other.
 */
describe('operator: ServiceAccount issuer keys from the API server to the gateways', () => {
  let kube: FakeKube;
  let up: FakeAnthropic;
  let gw: Gateway;
  let kubelet: FakeKubelet;
  let op: OperatorProcess;
  let keyA: SigningKey;
  let keyB: SigningKey;

  const ask = async (token: string) => {
    const res = await fetch(`http://127.0.0.1:${gw.trafficPort}/v1/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({ model: 'claude-test', max_tokens: 16, messages: [{ role: 'user', content: 'Hi' }] }),
    });
    return { status: res.status, body: (await res.json()) as any };
  };
  const saKey = {
    apiVersion: 'switchyard.dev/v1alpha1',
    kind: 'ApiKey',
    metadata: { name: 'support-bot', namespace: NS },
    spec: {
      serviceAccounts: [
        { namespace: NS, name: 'support-bot' },
        { namespace: 'team-b', name: '*' },
      ],
      limits: { requestsPerMinute: 600 },
    },
  };

  beforeAll(async () => {
    validateObject('ApiKey', structuredClone(saKey));
    [keyA, keyB] = await Promise.all([signingKey('key-a'), signingKey('key-b')]);
    kube = await startFakeKube();
    kube.setIssuer(ISSUER, jwksOf(keyA));
    up = await startFakeAnthropic();
    gw = await startGateway(undefined, { adminToken: ADMIN_TOKEN });
    kubelet = new FakeKubelet(kube).start();
    kubelet.addGateway('gw-0', gw);
    kube.create(upstreamSecret('anthropic', 'sk-ant-upstream-0001'));
    kube.create(clientSecret('client', 'sk-sy-unused-0001'));
    kube.create(route('claude-test', up.url));
    kube.create(saKey);
    op = startOperator(kube, {
      identity: 'op-sa',
      args: ['--sa-keys-refresh-seconds', '1', '--lease-duration-seconds', '20', '--renew-deadline-seconds', '15', '--retry-period-seconds', '1'],
    });
  });

  afterAll(async () => {
    kubelet?.stop();
    await op?.stop('SIGKILL');
    await gw?.close();
    await Promise.all([up?.close(), kube?.stop()]);
  });

  test('the issuer and its keys reach the gateway; a projected token of a listed ServiceAccount is admitted and attributed', async () => {
    await waitFor(() => gw.table?.snapshot.serviceAccountAuth && gw.table.snapshot.keys.length > 0, 20_000, 'snapshot with issuer keys');
    expect(gw.table!.snapshot.serviceAccountAuth).toEqual({ issuer: ISSUER, audience: 'switchyard', jwks: jwksOf(keyA) });
    expect(gw.table!.snapshot.keys).toEqual([expect.objectContaining({ name: `${NS}/support-bot`, serviceAccounts: saKey.spec.serviceAccounts })]);
    expect(gw.table!.snapshot.keys[0].sha256).toBeUndefined();
    const calls: Array<{ key?: string; sa?: string }> = [];
    gw.observers.add({ requestEnd: (c) => calls.push({ key: c.key?.name, sa: c.serviceAccount }) });
    expect((await ask(await mintToken(keyA))).status).toBe(200);
    expect((await ask(await mintToken(keyA, { namespace: 'team-b', name: 'etl' }))).status).toBe(200);
    await waitFor(() => calls.length === 2, 5000, 'two requests observed');
    expect(calls).toEqual([
      { key: `${NS}/support-bot`, sa: `${NS}/support-bot` },
      { key: `${NS}/support-bot`, sa: 'team-b/etl' },
    ]);
    const refused = await ask(await mintToken(keyA, { name: 'intruder' }));
    expect(refused).toEqual({
      status: 401,
      body: {
        type: 'error',
        error: { type: 'authentication_error', message: `ServiceAccount ${NS}/intruder is not admitted by any ApiKey` },
        request_id: expect.stringMatching(/^req_/),
      },
    });
  });

  test('the ApiKey is Accepted and its status says which ServiceAccounts it admits', async () => {
    await waitFor(
      () => kube.get('ApiKey', NS, 'support-bot')?.status?.conditions?.find((c: any) => c.type === 'Programmed')?.status === 'True',
      10_000,
      'ApiKey Programmed',
    );
    const accepted = kube.get('ApiKey', NS, 'support-bot').status.conditions.find((c: any) => c.type === 'Accepted');
    expect(accepted).toMatchObject({ status: 'True', message: `admits ServiceAccount(s) ${NS}/support-bot, team-b/*` });
  });

  test('key rotation: a token signed by a newly published key is refused until the operator re-reads the keys, then both keys are admitted', async () => {
    const newToken = await mintToken(keyB);
    const r = await ask(newToken);
    expect(r.status).toBe(401);
    expect(r.body.error.message).toMatch(/signed with a key this gateway does not know yet/);
    kube.setIssuer(ISSUER, jwksOf(keyA, keyB));
    await waitFor(async () => (await ask(newToken)).status === 200, 15_000, 'new key admitted after refresh');
    expect((await ask(await mintToken(keyA))).status).toBe(200);
    // The old key withdrawn: its tokens stop at the next refresh.
    kube.setIssuer(ISSUER, jwksOf(keyB));
    const old = await mintToken(keyA);
    await waitFor(async () => (await ask(old)).status === 401, 15_000, 'old key refused after withdrawal');
    expect((await ask(newToken)).status).toBe(200);
  });

  test('an API server that fails the key read leaves the gateways with the last keys', async () => {
    kube.failNext(500, 3, (q) => q.path === '/openid/v1/jwks');
    await op.waitForLog('cannot read the ServiceAccount issuer keys; keeping the last ones');
    expect((await ask(await mintToken(keyB))).status).toBe(200);
  });

  test('the operator read exactly the two issuer-discovery URLs, with its own token', () => {
    const paths = new Set(kube.requests.filter((q) => q.resource.startsWith('/')).map((q) => `${q.token} ${q.verb} ${q.resource}`));
    expect([...paths].sort()).toEqual(OPERATOR_NON_RESOURCE_URLS.map((u) => `t get ${u}`).sort());
  });
});

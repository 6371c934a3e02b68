import Anthropic from '@anthropic-ai/sdk';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { K8sObject } from '../gateway/src/config/k8s-object';
import { claudeCodeConfig, runClaude } from './helpers/claude-cli';
import { startFakeAnthropic, textStream, type FakeAnthropic } from './helpers/fake-anthropic';
import { assertBuilt, spawnGateway, writeConfig, type GatewayProcess } from './helpers/gateway-process';
import { startServer, waitFor, type TestServer } from './helpers/http-server';
import { ISSUER, jwksOf, mintToken, signingKey, type SigningKey } from './helpers/sa-issuer';

const CLI = join(__dirname, '..', 'dist', 'gateway', 'src', 'cli.js');

/**
 * `switchyard gateway --config FILE --sa-issuer URL --sa-jwks FILE_OR_URL` as a real process, and
 * the clients a workload would run: Claude Code with an apiKeyHelper reading the projected token
 * file, and the SDK re-reading it per request. The kubelet's rotation is the test rewriting the file.
 */
describe('standalone gateway: ServiceAccount tokens from a token file', () => {
  let fake: FakeAnthropic;
  let jwksServer: TestServer;
  let published: { keys: object[] };
  let keyA: SigningKey;
  let keyB: SigningKey;
  let config: string;
  let dir: string;
  const gateways: GatewayProcess[] = [];

  const objects = (): K8sObject[] =>
    claudeCodeConfig('sk-unused-client-key', (m) => ({ provider: 'anthropic', model: `upstream-${m}`, baseURL: fake.url })).map((o) =>
      o.kind === 'ApiKey' ? { ...o, spec: { ...o.spec, serviceAccounts: [{ namespace: 'team-a', name: '*' }] } } : o,
    );
  const spawn = async (env: Record<string, string>, args: string[] = []) => {
    const gw = await spawnGateway(config, { SWITCHYARD_ACCESS_LOG: 'stderr', ...env }, args);
    gateways.push(gw);
    return gw;
  };
  const ask = async (gw: GatewayProcess, token: string) => {
    const res = await fetch(`${gw.url}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': token, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({ model: 'claude-haiku-4-5', max_tokens: 16, messages: [{ role: 'user', content: 'Hi' }] }),
    });
    return { status: res.status, body: (await res.json()) as any };
  };
  const accessLines = (gw: GatewayProcess) => gw.logs.filter((l) => l.request_id && l.path);

  beforeAll(async () => {
    assertBuilt();
    [keyA, keyB] = await Promise.all([signingKey('key-a'), signingKey('key-b', 'ES256')]);
    fake = await startFakeAnthropic();
    fake.fallback = (r) =>
      r.path.startsWith('/v1/messages/count_tokens')
        ? { kind: 'count', input_tokens: 100 }
        : r.body?.stream
          ? { kind: 'stream', events: textStream(r.body.model, ['PONG ', 'from the gateway']) }
          : { kind: 'message' };
    published = jwksOf(keyA);
    jwksServer = await startServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(published));
    });
    config = writeConfig(objects());
    dir = mkdtempSync(join(tmpdir(), 'sa-token-'));
  });
  afterAll(async () => {
    await Promise.all(gateways.map((g) => g.stop()));
    await Promise.all([fake?.close(), jwksServer?.close()]);
  });

  test('--sa-issuer without --sa-jwks, or an unreadable JWK set, is a configuration error (exit 2)', () => {
    const run = (args: string[]) =>
      spawnSync(process.execPath, [CLI, 'gateway', '--config', config, '--port', '0', '--admin-port', '0', ...args], { encoding: 'utf8', timeout: 20_000 });
    const a = run(['--sa-issuer', ISSUER]);
    expect([a.status, a.stderr]).toEqual([2, expect.stringContaining('--sa-issuer and --sa-jwks go together')]);
    const b = run(['--sa-issuer', ISSUER, '--sa-jwks', join(dir, 'missing.json')]);
    expect([b.status, b.stderr]).toEqual([2, expect.stringContaining('cannot read: ENOENT')]);
    writeFileSync(join(dir, 'bad.json'), '{"keys": "no"}');
    const c = run(['--sa-issuer', ISSUER, '--sa-jwks', join(dir, 'bad.json')]);
    expect([c.status, c.stderr]).toEqual([2, expect.stringContaining('not a JWK set')]);
  });

  test('SWITCHYARD_SA_* variables: a JWK set file (re-read on SIGHUP) and a custom audience', async () => {
    const jwksFile = join(dir, 'jwks.json');
    writeFileSync(jwksFile, JSON.stringify(jwksOf(keyA)));
    const gw = await spawn({ SWITCHYARD_SA_ISSUER: ISSUER, SWITCHYARD_SA_JWKS: jwksFile, SWITCHYARD_SA_AUDIENCE: 'llm' });
    expect((await ask(gw, await mintToken(keyA, { audience: ['llm'] }))).status).toBe(200);
    const r = await ask(gw, await mintToken(keyA));
    expect([r.status, r.body.error.message]).toEqual([401, "ServiceAccount token is for another audience (this gateway accepts 'llm')"]);
    // A JWK set file is re-read on SIGHUP, with the configuration.
    const rotated = await mintToken(keyB, { audience: ['llm'] });
    expect((await ask(gw, rotated)).status).toBe(401);
    writeFileSync(jwksFile, JSON.stringify(jwksOf(keyB)));
    gw.child.kill('SIGHUP');
    await waitFor(async () => (await ask(gw, rotated)).status === 200, 10_000, 'key from the re-read file admitted');
    expect((await ask(gw, await mintToken(keyA, { audience: ['llm'] }))).status).toBe(401);
  });

  test('a JWK set URL is re-read: a token of a newly published key is refused, then admitted after the next read', async () => {
    const gw = await spawn({}, ['--sa-issuer', ISSUER, '--sa-jwks', jwksServer.url, '--sa-jwks-refresh-seconds', '1']);
    const token = await mintToken(keyB);
    expect((await ask(gw, token)).status).toBe(401);
    published = jwksOf(keyA, keyB);
    await waitFor(async () => (await ask(gw, token)).status === 200, 15_000, 'new key admitted');
    expect(gw.logs.find((l) => l.msg === 'ServiceAccount issuer keys refreshed')).toMatchObject({ keys: 2, applied: true });
  });

  test('Claude Code (claude -p) with apiKeyHelper reading the token file; a rotated token is picked up by the next run', async () => {
    published = jwksOf(keyA, keyB);
    const gw = await spawn({}, ['--sa-issuer', ISSUER, '--sa-jwks', jwksServer.url]);
    const tokenFile = join(dir, 'token');
    const settings = { apiKeyHelper: `cat ${tokenFile}` };
    writeFileSync(tokenFile, await mintToken(keyA, { name: 'assistant' }));
    const first = await runClaude(gw.url, '', 'say ping', [], settings);
    expect(JSON.parse(first.out)).toMatchObject({ type: 'result', subtype: 'success', is_error: false, result: 'PONG from the gateway' });
    // The kubelet rotated the projected token (here: another key and another pod's ServiceAccount).
    writeFileSync(tokenFile, await mintToken(keyB, { name: 'assistant-v2' }));
    const second = await runClaude(gw.url, '', 'say ping', [], settings);
    expect(JSON.parse(second.out)).toMatchObject({ subtype: 'success', is_error: false });
    await waitFor(() => accessLines(gw).some((l) => l.service_account === 'team-a/assistant-v2'), 5000, 'access line of the rotated token');
    const chats = accessLines(gw).filter((l) => l.path === '/v1/messages');
    expect(chats.length).toBeGreaterThanOrEqual(2);
    for (const l of chats)
      expect(l).toMatchObject({ status: 200, api_key: 'default/claude-code', service_account: expect.stringMatching(/^team-a\/assistant(-v2)?$/) });
    const all = JSON.stringify(gw.logs);
    for (const t of [readFileSync(tokenFile, 'utf8')]) expect(all).not.toContain(t.split('.')[2]);
  }, 200_000);

  test('the SDK re-reading the token file per request follows a rotation', async () => {
    const gw = await spawn({}, ['--sa-issuer', ISSUER, '--sa-jwks', jwksServer.url]);
    const tokenFile = join(dir, 'sdk-token');
    // What docs/ServiceAccount set-up recommends: read the file for each request (it changes under the pod).
    const client = () => new Anthropic({ baseURL: gw.url, authToken: readFileSync(tokenFile, 'utf8').trim(), apiKey: null, maxRetries: 0 });
    const hi = () => client().messages.create({ model: 'claude-haiku-4-5', max_tokens: 16, messages: [{ role: 'user', content: 'Hi' }] });
    writeFileSync(tokenFile, await mintToken(keyA, { name: 'sdk' }));
    expect((await hi()).type).toBe('message');
    writeFileSync(tokenFile, await mintToken(keyA, { name: 'sdk', expiresIn: -300 }));
    await expect(hi()).rejects.toMatchObject({ status: 401, error: { error: { type: 'authentication_error', message: 'ServiceAccount token expired' } } });
    writeFileSync(tokenFile, await mintToken(keyB, { name: 'sdk' }));
    expect((await hi()).type).toBe('message');
    await waitFor(() => accessLines(gw).length === 3, 5000, 'three access lines');
    expect(accessLines(gw).map((l) => [l.status, l.service_account])).toEqual([
      [200, 'team-a/sdk'],
      [401, null],
      [200, 'team-a/sdk'],
    ]);
  });
});

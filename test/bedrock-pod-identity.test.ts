import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFakeBedrock, type FakeBedrock } from './helpers/fake-bedrock';
import { spawnBedrockGateway } from './helpers/bedrock-process';
import { postMessage } from './helpers/gateway';
import { assertBuilt, type GatewayProcess } from './helpers/gateway-process';
import { startServer, type TestServer } from './helpers/http-server';

/**
 * EKS Pod Identity: the EKS Pod Identity Agent serves credentials on a link-local address the pod
 * reaches through AWS_CONTAINER_CREDENTIALS_FULL_URI, authorised by the projected token in
 * AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE. A fake agent on loopback (which the SDK allows over
 * plain HTTP) answers like the real one; the gateway must sign with what it hands out.
 */
const REGION = 'us-west-2';
const MODEL = 'anthropic.claude-haiku-4-5-20251001-v1:0';
const AGENT_TOKEN = 'eyJhbGciOiJSUzI1NiJ9.eks-pod-identity-token-SECRET.sig';
const ISSUED = {
  AccessKeyId: 'ASIAPODIDENTITY00001',
  SecretAccessKey: 'podIdentitySecret0000000000000000000000Pq1',
  Token: 'IQoJb3JpZ2luX2VjEPODIDENTITYSESSIONPq1',
};

beforeAll(() => assertBuilt());

describe('bedrock with EKS Pod Identity in a gateway process', () => {
  let bedrock: FakeBedrock;
  let agent: TestServer;
  let gw: GatewayProcess | undefined;
  const asked: Array<string | undefined> = [];
  let refuse = false;

  beforeAll(async () => {
    bedrock = await startFakeBedrock({
      region: REGION,
      keys: { [ISSUED.AccessKeyId]: ISSUED.SecretAccessKey },
      sessionTokens: { [ISSUED.AccessKeyId]: ISSUED.Token },
    });
    agent = await startServer((req, res) => {
      asked.push(req.headers.authorization);
      if (refuse || req.headers.authorization !== AGENT_TOKEN) {
        res.writeHead(403, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ code: 'AccessDeniedException', message: 'the token is not valid for this pod' }));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ...ISSUED, AccountId: '123456789012', Expiration: new Date(Date.now() + 6 * 3600_000).toISOString() }));
    });
  });
  afterEach(async () => {
    await gw?.stop();
    gw = undefined;
  });
  afterAll(async () => {
    await bedrock?.close();
    await agent?.close();
  });

  const start = () => {
    const tokenFile = join(mkdtempSync(join(tmpdir(), 'pod-identity-')), 'eks-pod-identity-token');
    writeFileSync(tokenFile, AGENT_TOKEN);
    return spawnBedrockGateway({
      bedrockURL: bedrock.url,
      model: MODEL,
      region: REGION,
      identity: { AWS_CONTAINER_CREDENTIALS_FULL_URI: `${agent.url}/v1/credentials`, AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: tokenFile },
    });
  };
  const post = (url: string) => postMessage(url);

  test('the agent is asked once with the pod token; its keys and session token sign every request; nothing secret is logged', async () => {
    refuse = false;
    asked.length = 0;
    gw = await start();
    const before = bedrock.requests.length;
    for (let i = 0; i < 3; i++) expect((await post(gw.url)).status).toBe(200);
    for (const r of bedrock.requests.slice(before)) {
      expect(r).toMatchObject({ auth: 'sigv4', accessKeyId: ISSUED.AccessKeyId });
      expect(r.headers['x-amz-security-token']).toBe(ISSUED.Token);
    }
    expect(asked).toEqual([AGENT_TOKEN]);
    const metrics = await (await fetch(`${gw.adminURL}/metrics`)).text();
    for (const s of [AGENT_TOKEN, ISSUED.SecretAccessKey, ISSUED.Token]) expect(JSON.stringify(gw.logs) + metrics).not.toContain(s);
  });

  test('the agent refusing: a 502 naming bedrock and the credential chain, no secret, the gateway still serving', async () => {
    refuse = true;
    gw = await start();
    const res = await post(gw.url);
    const text = await res.text();
    expect(res.status).toBe(502);
    const body = JSON.parse(text);
    expect(body.type).toBe('error');
    expect(body.error.type).toBe('api_error');
    expect(body.error.message).toMatch(/bedrock/i);
    expect(body.error.message).toMatch(/credential chain/i);
    expect(text).not.toContain(AGENT_TOKEN);
    expect(res.headers.get('request-id')).toBeTruthy();
    expect((await fetch(`${gw.adminURL}/healthz`)).status).toBe(200);
  });
});

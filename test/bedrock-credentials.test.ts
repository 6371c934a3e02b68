import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFakeBedrock, type FakeBedrock } from './helpers/fake-bedrock';
import { startFakeSts, type FakeSts, type Issued } from './helpers/fake-sts';
import { spawnBedrockGateway } from './helpers/bedrock-process';
import { postMessage } from './helpers/gateway';
import { assertBuilt, type GatewayProcess } from './helpers/gateway-process';
import { sleep, waitFor } from './helpers/http-server';

/**
 * The pod-identity path of the bedrock provider, in a gateway child process so its AWS
 * environment is its own: IRSA's web-identity exchange with a fake STS (AWS_ENDPOINT_URL_STS), the
 * temporary keys signing requests the fake Bedrock verifies, their refresh before they expire, and
 * a credential failure as a 502 that names the source and nothing secret.
 */
const REGION = 'us-east-1';
const MODEL = 'anthropic.claude-haiku-4-5-20251001-v1:0';
const ROLE_ARN = 'arn:aws:iam::123456789012:role/switchyard-bedrock';
const WEB_TOKEN = 'eyJhbGciOiJSUzI1NiJ9.projected-sa-token-SECRET.sig';
const FIRST: Omit<Issued, 'expiration'> = {
  accessKeyId: 'ASIAFIRSTSTSKEY00001',
  secretAccessKey: 'firstStsSecret000000000000000000000000Qz1',
  sessionToken: 'FwoGZXIvYXdzFIRSTSESSIONTOKENQz1',
};
const SECOND: Omit<Issued, 'expiration'> = {
  accessKeyId: 'ASIASECONDSTSKEY0002',
  secretAccessKey: 'secondStsSecret00000000000000000000000Qz2',
  sessionToken: 'FwoGZXIvYXdzSECONDSESSIONTOKENQz2',
};
const SECRETS = [WEB_TOKEN, FIRST.secretAccessKey, FIRST.sessionToken, SECOND.secretAccessKey, SECOND.sessionToken];
/** The gateway refreshes credentials this long before they expire (bedrock/credentials.ts REFRESH_MARGIN_MS). */
const MARGIN_MS = 5 * 60_000;

beforeAll(() => assertBuilt());

describe('bedrock with the pod identity (AWS default chain) in a gateway process', () => {
  let bedrock: FakeBedrock;
  let sts: FakeSts | undefined;
  let gw: GatewayProcess | undefined;
  let tokenFile: string;

  beforeAll(async () => {
    bedrock = await startFakeBedrock({
      region: REGION,
      keys: { [FIRST.accessKeyId]: FIRST.secretAccessKey, [SECOND.accessKeyId]: SECOND.secretAccessKey },
      sessionTokens: { [FIRST.accessKeyId]: FIRST.sessionToken, [SECOND.accessKeyId]: SECOND.sessionToken },
    });
    tokenFile = join(mkdtempSync(join(tmpdir(), 'irsa-')), 'token');
    writeFileSync(tokenFile, WEB_TOKEN);
  });
  afterEach(async () => {
    await gw?.stop();
    await sts?.close();
    gw = sts = undefined;
  });
  afterAll(() => bedrock.close());

  /** A gateway whose only AWS settings are IRSA's. */
  const start = (stsURL: string) =>
    spawnBedrockGateway({
      bedrockURL: bedrock.url,
      model: MODEL,
      region: REGION,
      identity: { AWS_WEB_IDENTITY_TOKEN_FILE: tokenFile, AWS_ROLE_ARN: ROLE_ARN, AWS_ROLE_SESSION_NAME: 'switchyard-gateway', AWS_ENDPOINT_URL_STS: stsURL },
    });
  const post = (url: string) => postMessage(url);

  test('web identity (IRSA): one STS exchange, its temporary keys and session token sign every request', async () => {
    sts = await startFakeSts({ roleArn: ROLE_ARN, token: WEB_TOKEN, issue: { ...FIRST, expiration: new Date(Date.now() + 3600_000) } });
    gw = await start(sts.url);
    const before = bedrock.requests.length;
    for (let i = 0; i < 3; i++) expect((await post(gw.url)).status).toBe(200);
    const seen = bedrock.requests.slice(before);
    expect(seen).toHaveLength(3);
    for (const r of seen) {
      expect(r).toMatchObject({ auth: 'sigv4', accessKeyId: FIRST.accessKeyId });
      expect(r.headers['x-amz-security-token']).toBe(FIRST.sessionToken);
    }
    expect(sts.calls).toEqual([{ roleArn: ROLE_ARN, token: WEB_TOKEN, sessionName: 'switchyard-gateway' }]);
    const metrics = await (await fetch(`${gw.adminURL}/metrics`)).text();
    for (const s of SECRETS) expect(JSON.stringify(gw.logs) + metrics).not.toContain(s);
    expect(gw.logs.filter((l) => l.status === 200)).toHaveLength(3);
  });

  test('short-lived credentials are refreshed before they expire: the next request signs with new keys', async () => {
    let firstExpiry = 0;
    sts = await startFakeSts({
      roleArn: ROLE_ARN,
      token: WEB_TOKEN,
      // The first keys enter the refresh margin two seconds after they are issued (and are still
      // valid for five minutes then); the second are good for an hour.
      issue: (n) =>
        n === 1
          ? { ...FIRST, expiration: new Date((firstExpiry = Date.now() + MARGIN_MS + 2000)) }
          : { ...SECOND, expiration: new Date(Date.now() + 3600_000) },
    });
    gw = await start(sts.url);
    const before = bedrock.requests.length;
    expect((await post(gw.url)).status).toBe(200);
    expect(bedrock.requests.at(-1)!.accessKeyId).toBe(FIRST.accessKeyId);
    await waitFor(() => Date.now() > firstExpiry - MARGIN_MS + 200, 10_000, 'the first keys to enter the refresh margin');
    expect((await post(gw.url)).status).toBe(200);
    expect(bedrock.requests.at(-1)).toMatchObject({ accessKeyId: SECOND.accessKeyId });
    expect(bedrock.requests.at(-1)!.headers['x-amz-security-token']).toBe(SECOND.sessionToken);
    expect(bedrock.requests.length - before).toBe(2);
    expect(sts.calls).toHaveLength(2);
    // The refresh happened while the first keys were still valid.
    expect(Date.now()).toBeLessThan(firstExpiry);
  });

  test('STS refusing the token: a 502 api_error naming bedrock and the credential source, the gateway still up, no secret anywhere', async () => {
    sts = await startFakeSts({ roleArn: ROLE_ARN, token: 'a-different-token', issue: { ...FIRST, expiration: new Date(Date.now() + 3600_000) } });
    gw = await start(sts.url);
    const before = bedrock.requests.length;
    const answers: Array<{ status: number; text: string; requestId: string | null }> = [];
    for (let i = 0; i < 2; i++) {
      const res = await post(gw.url);
      answers.push({ status: res.status, text: await res.text(), requestId: res.headers.get('request-id') });
    }
    for (const a of answers) {
      expect(a.status).toBe(502);
      const body = JSON.parse(a.text);
      expect(body).toMatchObject({ type: 'error', error: { type: 'api_error' }, request_id: a.requestId });
      expect(body.error.message).toMatch(/^bedrock: could not obtain credentials from AWS default credential chain/);
    }
    expect(bedrock.requests.length).toBe(before);
    expect(sts.calls.length).toBeGreaterThan(0);
    expect(gw.child.exitCode).toBeNull();
    const logLine = await waitFor(() => gw!.logs.find((l) => l.request_id === answers[1].requestId && l.status !== undefined), 10_000, 'access log line');
    expect(logLine).toMatchObject({ status: 502, error_type: 'api_error', provider: 'bedrock' });
    const metrics = await (await fetch(`${gw.adminURL}/metrics`)).text();
    const everything = [...answers.map((a) => a.text), JSON.stringify(gw.logs), metrics].join('\n');
    for (const s of SECRETS) expect(everything).not.toContain(s);
  });

  test('no credentials at all (no keys, no web identity, no instance role): the same 502, not a crash', async () => {
    gw = await spawnBedrockGateway({ bedrockURL: bedrock.url, model: MODEL, region: REGION, identity: {} });
    const res = await post(gw.url);
    expect(res.status).toBe(502);
    expect(((await res.json()) as any).error.message).toMatch(/^bedrock: could not obtain credentials from AWS default credential chain/);
    await sleep(100);
    expect(gw.child.exitCode).toBeNull();
  });
});

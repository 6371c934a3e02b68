import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFakeGceMetadata, type FakeMetadata } from './helpers/fake-gce-metadata';
import { startFakeVertex, type FakeVertex } from './helpers/fake-vertex';
import { CLIENT_KEY, apiKey, modelRoute, secret } from './helpers/gateway';
import { assertBuilt, spawnGateway, writeConfig, type GatewayProcess } from './helpers/gateway-process';
import { waitFor } from './helpers/http-server';

/**
 * GKE Workload Identity: a `vertex` target without credentials or project takes both from the
 * pod's metadata server. The built gateway runs as a child process with `GCE_METADATA_HOST`
 * pointing at a fake metadata server, as google-auth-library reads it in a pod.
 */
const PROJECT = 'wi-project';
const REGION = 'global';
const TOKEN = 'ya29.workload-identity-token-42';
// Each test starts a gateway process: generous on a loaded 2-core box.

describe('vertex through Workload Identity (metadata server, built gateway process)', () => {
  let vertex: FakeVertex;
  let metadata: FakeMetadata;
  let refusing: FakeMetadata;

  beforeAll(async () => {
    assertBuilt();
    vertex = await startFakeVertex({ tokens: [TOKEN], project: PROJECT, region: REGION });
    metadata = await startFakeGceMetadata({ token: TOKEN, projectId: PROJECT });
    refusing = await startFakeGceMetadata({ token: 'unused', projectId: PROJECT, refuseToken: true });
  });
  afterAll(async () => {
    await Promise.all([vertex.close(), metadata.close(), refusing.close()]);
  });

  async function gatewayWith(md: FakeMetadata): Promise<GatewayProcess> {
    const config = writeConfig([
      secret('client', { key: CLIENT_KEY }),
      modelRoute('vertex', {
        model: 'claude-wi',
        targets: [{ provider: 'vertex', model: 'claude-opus-4-1@20250805', region: REGION, baseURL: `${vertex.url}/v1` }],
        retry: { attempts: 1 },
      }),
      apiKey('team', { secretRef: { name: 'client' } }),
    ]);
    // Only the fake metadata server: no key file or gcloud login from the machine running the tests.
    return spawnGateway(config, {
      GCE_METADATA_HOST: `127.0.0.1:${md.port}`,
      GOOGLE_APPLICATION_CREDENTIALS: '',
      GOOGLE_CLOUD_PROJECT: '',
      GCLOUD_PROJECT: '',
      CLOUDSDK_CONFIG: mkdtempSync(join(tmpdir(), 'gcloud-')),
      SWITCHYARD_ACCESS_LOG: 'stderr',
    });
  }

  const post = (gw: GatewayProcess, stream: boolean) =>
    fetch(`${gw.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': CLIENT_KEY },
      body: JSON.stringify({ model: 'claude-wi', max_tokens: 10, stream, messages: [{ role: 'user', content: 'hi' }] }),
    });

  test('the token and the project come from the metadata server; the token is fetched once and never shown', async () => {
    const gw = await gatewayWith(metadata);
    try {
      const r = await post(gw, false);
      const body = await r.text();
      expect(r.status).toBe(200);
      expect(JSON.parse(body)).toMatchObject({ type: 'message', content: [{ text: 'Hello from Vertex' }] });
      const s = await post(gw, true);
      const streamed = await s.text();
      expect(streamed).toMatch(/event: message_stop/);
      const call = vertex.calls.at(-1)!;
      expect(call.path).toBe(`/v1/projects/${PROJECT}/locations/global/publishers/anthropic/models/claude-opus-4-1@20250805:streamRawPredict`);
      expect(call.headers.authorization).toBe(`Bearer ${TOKEN}`);
      expect(metadata.tokenRequests).toBe(1);

      const metrics = await (await fetch(`${gw.adminURL}/metrics`)).text();
      const access = await waitFor(() => (gw.logs.filter((l) => l.request_id && l.status === 200).length >= 2 ? gw.logs : undefined), 15_000, 'access log');
      for (const text of [body, streamed, metrics, JSON.stringify(access)]) expect(text).not.toContain(TOKEN);
    } finally {
      await gw.stop();
    }
  }, 90_000);

  test('a pod whose identity is refused: 502 naming vertex and ADC, nothing sent to Vertex, the gateway still serving', async () => {
    const gw = await gatewayWith(refusing);
    try {
      const before = vertex.calls.length;
      const r = await post(gw, true);
      expect(r.status).toBe(502);
      expect(r.headers.get('request-id')).toMatch(/^req_/);
      const body = (await r.json()) as any;
      expect(body.error.type).toBe('api_error');
      expect(body.error.message).toMatch(
        /^vertex: could not obtain credentials from Application Default Credentials \(Workload Identity \/ metadata server\): /,
      );
      expect(vertex.calls.length).toBe(before);
      expect((await post(gw, false)).status).toBe(502);
      expect(gw.child.exitCode).toBeNull();
    } finally {
      await gw.stop();
    }
  }, 90_000);
});

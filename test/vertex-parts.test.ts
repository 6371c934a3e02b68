import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CredentialError } from '../gateway/src/providers/credential-error';
import type { Target } from '../gateway/src/core/routes';
import { describeGoogleSource, vertexAuth } from '../gateway/src/providers/vertex/credentials';
import { credentialsFor, MAX_ENTRIES } from '../gateway/src/providers/vertex/target-credentials';
import { mapVertexError, vertexErrorReply } from '../gateway/src/providers/vertex/errors';
import {
  claudeCountTokensURL,
  claudeURL,
  geminiURL,
  toVertexBody,
  toVertexCountTokensBody,
  unsupportedContent,
  vertexBaseURL,
} from '../gateway/src/providers/vertex/request';
import { startFakeGceMetadata } from './helpers/fake-gce-metadata';
import { startFakeGoogleOAuth } from './helpers/fake-google-oauth';
import { startFakeVertex, type FakeVertex } from './helpers/fake-vertex';

describe('Vertex request', () => {
  const target = { project: 'my-proj', region: 'us-east5' };

  test('hosts per location, as the Vertex SDK picks them', () => {
    expect(vertexBaseURL('global')).toBe('https://aiplatform.googleapis.com/v1');
    expect(vertexBaseURL('us')).toBe('https://aiplatform.us.rep.googleapis.com/v1');
    expect(vertexBaseURL('eu')).toBe('https://aiplatform.eu.rep.googleapis.com/v1');
    expect(vertexBaseURL('europe-west1')).toBe('https://europe-west1-aiplatform.googleapis.com/v1');
  });

  test('Claude: rawPredict / streamRawPredict / count-tokens:rawPredict on publisher anthropic', () => {
    const root = 'https://us-east5-aiplatform.googleapis.com/v1/projects/my-proj/locations/us-east5/publishers/anthropic/models';
    expect(claudeURL(target, 'claude-sonnet-4-5@20250929', false)).toBe(`${root}/claude-sonnet-4-5@20250929:rawPredict`);
    expect(claudeURL(target, 'claude-sonnet-4-5@20250929', true)).toBe(`${root}/claude-sonnet-4-5@20250929:streamRawPredict`);
    expect(claudeCountTokensURL(target)).toBe(`${root}/count-tokens:rawPredict`);
    expect(claudeURL({ project: 'p', region: 'global' }, 'claude-opus-4-1@20250805', false)).toBe(
      'https://aiplatform.googleapis.com/v1/projects/p/locations/global/publishers/anthropic/models/claude-opus-4-1@20250805:rawPredict',
    );
  });

  test('Gemini on Vertex: publisher google, generateContent / streamGenerateContent?alt=sse / countTokens', () => {
    const root = 'https://us-east5-aiplatform.googleapis.com/v1/projects/my-proj/locations/us-east5/publishers/google/models/gemini-2.5-pro';
    expect(geminiURL(target, 'gemini-2.5-pro', 'generateContent')).toBe(`${root}:generateContent`);
    expect(geminiURL(target, 'gemini-2.5-pro', 'streamGenerateContent')).toBe(`${root}:streamGenerateContent?alt=sse`);
    expect(geminiURL(target, 'gemini-2.5-pro', 'countTokens')).toBe(`${root}:countTokens`);
  });

  test('body: model removed, stream kept, Vertex version; count-tokens keeps model (no @latest); drop list', () => {
    const body = {
      model: 'claude-sonnet-4-5@20250929',
      stream: true,
      max_tokens: 10,
      messages: [{ role: 'user', content: 'hi' }],
      output_format: { type: 'json' },
    };
    expect(toVertexBody(body)).toEqual({
      anthropic_version: 'vertex-2023-10-16',
      stream: true,
      max_tokens: 10,
      messages: body.messages,
      output_format: { type: 'json' },
    });
    expect(toVertexBody(body, ['output_format']).output_format).toBeUndefined();
    expect(body.model).toBe('claude-sonnet-4-5@20250929');
    expect(toVertexCountTokensBody({ model: 'x', messages: [] }, 'claude-sonnet-4-5@latest')).toEqual({
      anthropic_version: 'vertex-2023-10-16',
      messages: [],
      model: 'claude-sonnet-4-5',
    });
  });

  test('URL document sources are refused up front (Vertex does not fetch them)', () => {
    const doc = { type: 'document', source: { type: 'url', url: 'https://example.com/a.pdf' } };
    expect(unsupportedContent({ messages: [{ role: 'user', content: [doc] }] })).toMatch(/URL sources/);
    expect(unsupportedContent({ messages: [{ role: 'user', content: [{ type: 'tool_result', tool_use_id: 't', content: [doc] }] }] })).toMatch(/URL sources/);
    expect(
      unsupportedContent({ messages: [{ role: 'user', content: [{ ...doc, source: { type: 'base64', media_type: 'application/pdf', data: 'JVBER' } }] }] }),
    ).toBeUndefined();
  });
});

describe('Vertex error mapping', () => {
  const g = (code: number, status: string, message = 'm') => Buffer.from(JSON.stringify({ error: { code, status, message } }));
  test.each([
    [403, 'PERMISSION_DENIED', 403, 'permission_error'],
    [429, 'RESOURCE_EXHAUSTED', 429, 'rate_limit_error'],
    [404, 'NOT_FOUND', 404, 'not_found_error'],
    [400, 'INVALID_ARGUMENT', 400, 'invalid_request_error'],
    [401, 'UNAUTHENTICATED', 401, 'authentication_error'],
    [503, 'UNAVAILABLE', 529, 'overloaded_error'],
  ])('Google %i %s → %i %s', (code, status, want, type) => {
    const r = vertexErrorReply(code, g(code, status, "Permission 'aiplatform.endpoints.predict' denied"), 'req_2');
    expect(r.status).toBe(want);
    expect(r.body).toEqual({
      type: 'error',
      error: { type, message: `Vertex AI ${status}: Permission 'aiplatform.endpoints.predict' denied` },
      request_id: 'req_2',
    });
  });

  test("Anthropic's own envelope (relayed by Vertex) keeps its type; 503 becomes 529; a token in the text is redacted", () => {
    const a = Buffer.from(JSON.stringify({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }));
    expect(mapVertexError(529, a)).toEqual({ status: 529, type: 'overloaded_error', message: 'Overloaded' });
    expect(mapVertexError(503, a)).toEqual({ status: 529, type: 'overloaded_error', message: 'Overloaded' });
    expect(mapVertexError(503, Buffer.from('<html>'))).toEqual({ status: 529, type: 'overloaded_error', message: 'Vertex AI returned HTTP 503' });
    expect(mapVertexError(401, g(401, 'UNAUTHENTICATED', 'bad token ya29.secret-token-value'), ['ya29.secret-token-value']).message).toBe(
      'Vertex AI UNAUTHENTICATED: bad token [redacted]',
    );
  });
});

describe('Vertex credentials per target', () => {
  // A new configuration snapshot builds new Target objects; the id is what stays the same.
  const snapshotOf = (id: string) =>
    ({ id, provider: 'vertex', model: 'claude-sonnet-4-5@20250929', baseURL: 'https://aiplatform.googleapis.com/v1' }) as unknown as Target;

  test('kept across snapshots by target id (the token cache with it), and bounded: the least recently configured goes', () => {
    const first = credentialsFor(snapshotOf('vertex-cache-a'));
    expect(credentialsFor(snapshotOf('vertex-cache-a'))).toBe(first);
    const kept = credentialsFor(snapshotOf('vertex-cache-b'));
    for (let i = 0; i < MAX_ENTRIES - 2; i++) credentialsFor(snapshotOf(`vertex-cache-other-${i}`));
    // Configured again: now the most recent, so the next newcomers push out `a`, not `b`.
    expect(credentialsFor(snapshotOf('vertex-cache-b'))).toBe(kept);
    credentialsFor(snapshotOf('vertex-cache-newcomer-1'));
    credentialsFor(snapshotOf('vertex-cache-newcomer-2'));
    expect(credentialsFor(snapshotOf('vertex-cache-b'))).toBe(kept);
    expect(credentialsFor(snapshotOf('vertex-cache-a'))).not.toBe(first);
  });

  test('within a snapshot, the same target object gets its credentials even once evicted', () => {
    const target = snapshotOf('vertex-cache-live');
    const c = credentialsFor(target);
    for (let i = 0; i < MAX_ENTRIES + 1; i++) credentialsFor(snapshotOf(`vertex-cache-flood-${i}`));
    expect(credentialsFor(target)).toBe(c);
  });
});

describe('Vertex credentials against fake Google endpoints (real HTTP)', () => {
  const PROJECT = 'my-proj';
  const REGION = 'us-east5';
  let vertex: FakeVertex;
  const saved = { ...process.env };

  beforeAll(async () => {
    vertex = await startFakeVertex({ tokens: ['ya29.metadata-token', 'ya29.sa-token'], project: PROJECT, region: REGION });
  });
  afterAll(() => vertex.close());
  afterEach(() => {
    process.env = { ...saved };
  });

  async function post(headers: Record<string, string>, url: string, body: unknown) {
    return fetch(url, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  }

  const target = () => ({ project: PROJECT, region: REGION, baseURL: `${vertex.url}/v1` });
  const request = { model: 'claude-sonnet-4-5@20250929', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] };

  test('Workload Identity (ADC via GCE_METADATA_HOST): token fetched once, cached, accepted by the fake Vertex', async () => {
    const md = await startFakeGceMetadata({ token: 'ya29.metadata-token', projectId: PROJECT });
    try {
      isolateGoogleEnv({ GCE_METADATA_HOST: `127.0.0.1:${md.port}` });
      const auth = vertexAuth({ kind: 'adc' });
      const h = await auth.headers();
      expect(h).toEqual({ authorization: 'Bearer ya29.metadata-token' });
      const r = await post(h, claudeURL(target(), 'claude-sonnet-4-5@20250929', false), toVertexBody(request));
      expect(r.status).toBe(200);
      expect(((await r.json()) as any).id).toBe('msg_vrtx_01');

      const s = await post(await auth.headers(), claudeURL(target(), 'claude-sonnet-4-5@20250929', true), toVertexBody({ ...request, stream: true }));
      expect(s.headers.get('content-type')).toMatch(/^text\/event-stream/);
      expect(await s.text()).toMatch(/^event: message_start\n[\s\S]*event: message_stop\n/);

      const c = await post(await auth.headers(), claudeCountTokensURL(target()), toVertexCountTokensBody(request, 'claude-sonnet-4-5@20250929'));
      expect(await c.json()).toEqual({ input_tokens: JSON.stringify(request.messages).length });

      const gem = await post(await auth.headers(), geminiURL(target(), 'gemini-2.5-pro', 'streamGenerateContent'), {
        contents: [{ role: 'user', parts: [{ text: 'hi' }] }],
      });
      expect(await gem.text()).toMatch(/^data: .*Hello from Gem[\s\S]*data: .*ini on Vertex/);
      expect(vertex.calls.at(-1)).toMatchObject({ publisher: 'google', model: 'gemini-2.5-pro', method: 'streamGenerateContent' });

      expect(md.tokenRequests).toBe(1);
      expect(await auth.projectId()).toBe(PROJECT);
    } finally {
      await md.close();
    }
  });

  test('a service-account key: the JWT assertion is verified by a fake token endpoint, the token cached', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const clientEmail = 'switchyard@my-proj.iam.gserviceaccount.com';
    const oauth = await startFakeGoogleOAuth({
      publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      clientEmail,
      token: 'ya29.sa-token',
    });
    try {
      isolateGoogleEnv({});
      const json = JSON.stringify({
        type: 'service_account',
        project_id: PROJECT,
        private_key_id: 'k1',
        private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
        client_email: clientEmail,
        token_uri: 'https://oauth2.googleapis.com/token',
      });
      const auth = vertexAuth({ kind: 'serviceAccount', json }, { tokenURL: `${oauth.url}/token` });
      const h = await auth.headers();
      expect(h).toEqual({ authorization: 'Bearer ya29.sa-token' });
      expect((await post(h, claudeURL(target(), 'claude-sonnet-4-5@20250929', false), toVertexBody(request))).status).toBe(200);
      await auth.headers();
      expect(oauth.grants).toEqual([{ iss: clientEmail, scope: 'https://www.googleapis.com/auth/cloud-platform' }]);
      expect(await auth.projectId()).toBe(PROJECT);

      // A different key's signature is refused by the token endpoint: a CredentialError without the key.
      const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
      const bad = vertexAuth({ kind: 'serviceAccount', json: JSON.stringify({ ...JSON.parse(json), private_key: other }) }, { tokenURL: `${oauth.url}/token` });
      const err = await bad.headers().catch((e) => e);
      expect(err).toBeInstanceOf(CredentialError);
      expect(err.message).toMatch(/^vertex: could not obtain credentials from service-account key \(Secret\)/);
      expect(err.message).not.toContain('PRIVATE KEY');
    } finally {
      await oauth.close();
    }
  });

  test("a wrong token is refused by the fake Vertex with Google's 401, mapped to authentication_error", async () => {
    const r = await post({ authorization: 'Bearer ya29.nope' }, claudeURL(target(), 'm', false), toVertexBody(request));
    expect(r.status).toBe(401);
    expect(vertexErrorReply(r.status, Buffer.from(await r.arrayBuffer()), null).body.error.type).toBe('authentication_error');
  });

  test('credential failures name the source, never the secret', async () => {
    const notJson = await vertexAuth({ kind: 'serviceAccount', json: '{"private_key": "-----BEGIN PRIVATE KEY-----abc' })
      .headers()
      .catch((e) => e);
    expect(notJson).toBeInstanceOf(CredentialError);
    expect(notJson.message).toBe('vertex: could not obtain credentials from service-account key (Secret): the key is not valid JSON');

    const md = await startFakeGceMetadata({ token: 'unused', projectId: PROJECT, refuseToken: true });
    try {
      isolateGoogleEnv({ GCE_METADATA_HOST: `127.0.0.1:${md.port}` });
      const err = await vertexAuth({ kind: 'adc' })
        .headers()
        .catch((e) => e);
      expect(err).toBeInstanceOf(CredentialError);
      expect(err).toMatchObject({ provider: 'vertex', source: describeGoogleSource({ kind: 'adc' }) });
    } finally {
      await md.close();
    }
  });
});

/** Only the given Google settings: no key file or gcloud config from the machine running the tests. */
function isolateGoogleEnv(vars: Record<string, string>): void {
  for (const k of [
    'GOOGLE_APPLICATION_CREDENTIALS',
    'GCE_METADATA_HOST',
    'GCE_METADATA_IP',
    'GOOGLE_CLOUD_PROJECT',
    'GCLOUD_PROJECT',
    'METADATA_SERVER_DETECTION',
  ])
    delete process.env[k];
  Object.assign(process.env, { CLOUDSDK_CONFIG: mkdtempSync(join(tmpdir(), 'gcloud-')) }, vars);
}

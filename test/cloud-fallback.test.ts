import Anthropic from '@anthropic-ai/sdk';
import type { Gateway } from '../gateway/src/gateway';
import { installTelemetry } from '../gateway/src/telemetry';
import { startFakeAnthropic, type FakeAnthropic } from './helpers/fake-anthropic';
import { awsError, defaultReply, startFakeBedrock, type FakeBedrock } from './helpers/fake-bedrock';
import { startFakeGoogleOAuth, serviceAccountKey, type FakeGoogleOAuth } from './helpers/fake-google-oauth';
import { startFakeVertex, type FakeVertex } from './helpers/fake-vertex';
import { CLIENT_KEY, UPSTREAM_KEY, apiKey, baseURL, modelRoute, secret, snapshotOf, startGateway } from './helpers/gateway';
import { grammarViolations } from './helpers/grammar';
import { waitFor } from './helpers/http-server';
import { parseSse } from './helpers/sse-client';

/**
 * One route over three upstreams: Claude on Bedrock first, Claude on Vertex AI as the fallback,
 * Anthropic last. Each answers with its own wire and credentials (SigV4, a Google OAuth bearer, an
 * API key); the client sees one Messages API, whichever answered.
 */
const KEYS = { AWS_ACCESS_KEY_ID: 'AKIAFALLBACKTEST0007', AWS_SECRET_ACCESS_KEY: 'fallbackSecretKey00000000000000000000Xy7q' };
const PROJECT = 'fallback-proj';
const REGION = 'us-east5';

describe('a route that falls back from Bedrock to Vertex AI to Anthropic', () => {
  let bedrock: FakeBedrock;
  let vertex: FakeVertex;
  let oauth: FakeGoogleOAuth;
  let anthropic: FakeAnthropic;
  let gw: Gateway;
  let client: Anthropic;
  let bedrockThrottled = true;
  const lines: Array<Record<string, any>> = [];
  const key = serviceAccountKey(PROJECT);

  beforeAll(async () => {
    bedrock = await startFakeBedrock({
      region: 'us-east-1',
      keys: { [KEYS.AWS_ACCESS_KEY_ID]: KEYS.AWS_SECRET_ACCESS_KEY },
      reply: (rec, res) =>
        bedrockThrottled ? awsError(res, 429, 'ThrottlingException', 'Too many requests, please wait before trying again.') : defaultReply(rec, res),
    });
    vertex = await startFakeVertex({ tokens: ['ya29.fallback-token-01'], project: PROJECT, region: REGION });
    oauth = await startFakeGoogleOAuth({ publicKeyPem: key.publicKeyPem, clientEmail: key.clientEmail, token: 'ya29.fallback-token-01' });
    anthropic = await startFakeAnthropic();
    gw = await startGateway(
      snapshotOf([
        secret('aws', KEYS),
        secret('gcp', { 'service-account.json': key.json(`${oauth.url}/token`) }),
        secret('upstream', { apiKey: UPSTREAM_KEY }),
        secret('client', { key: CLIENT_KEY }),
        modelRoute('sonnet', {
          model: 'sonnet',
          targets: [
            {
              provider: 'bedrock',
              model: 'us.anthropic.claude-sonnet-4-5-20250929-v1:0',
              region: 'us-east-1',
              baseURL: bedrock.url,
              credentialsRef: { name: 'aws' },
            },
            {
              provider: 'vertex',
              model: 'claude-sonnet-4-5@20250929',
              region: REGION,
              project: PROJECT,
              baseURL: `${vertex.url}/v1`,
              credentialsRef: { name: 'gcp' },
              priority: 1,
            },
            { provider: 'anthropic', model: 'claude-sonnet-4-5-20250929', baseURL: anthropic.url, credentialsRef: { name: 'upstream' }, priority: 2 },
          ],
          retry: { attempts: 1, on: ['429', '5xx'] },
        }),
        apiKey('team-a', { secretRef: { name: 'client' } }),
      ]),
    );
    installTelemetry(gw, {}, { accessLogSink: (l) => void lines.push(JSON.parse(l)) });
    client = new Anthropic({ baseURL: baseURL(gw), apiKey: CLIENT_KEY, maxRetries: 0 });
  });
  afterAll(async () => {
    await gw?.close();
    await Promise.all([bedrock?.close(), vertex?.close(), oauth?.close(), anthropic?.close()]);
  });
  afterEach(() => {
    bedrockThrottled = true;
    vertex.queue.length = 0;
  });

  const lastLine = async (before: number) => {
    await waitFor(() => lines.length > before);
    return lines[lines.length - 1];
  };
  const overloaded = { publisher: 'anthropic' as const, script: { kind: 'error' as const, status: 529, type: 'overloaded_error', message: 'Overloaded' } };

  test('Bedrock throttled, Vertex answers: a stream with the exact grammar, the attempts in the access log', async () => {
    const before = lines.length;
    const res = await fetch(`${baseURL(gw)}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': CLIENT_KEY, 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({ model: 'sonnet', max_tokens: 64, stream: true, messages: [{ role: 'user', content: 'Hi' }] }),
    });
    expect(res.status).toBe(200);
    const events = parseSse(await res.text());
    expect(grammarViolations(events)).toEqual([]);
    expect(events.at(-1)!.event).toBe('message_stop');
    const line = await lastLine(before);
    expect(line.attempts.map((a: any) => [a.provider, a.status])).toEqual([
      ['bedrock', 429],
      ['vertex', 200],
    ]);
    expect(line).toMatchObject({ status: 200, provider: 'vertex', fallbacks: 1 });
    expect(bedrock.requests.at(-1)!.auth).toBe('sigv4');
    expect(vertex.calls.at(-1)!.path).toMatch(/:streamRawPredict$/);
  });

  test('Bedrock throttled and Vertex overloaded: Anthropic answers, non-streamed and streamed', async () => {
    vertex.queue.push(overloaded);
    const before = lines.length;
    const msg = await client.messages.create({ model: 'sonnet', max_tokens: 64, messages: [{ role: 'user', content: 'Hi' }] });
    expect(msg.type).toBe('message');
    expect(anthropic.last().headers['x-api-key']).toBe(UPSTREAM_KEY);
    const line = await lastLine(before);
    expect(line.attempts.map((a: any) => [a.provider, a.status])).toEqual([
      ['bedrock', 429],
      ['vertex', 529],
      ['anthropic', 200],
    ]);
    expect(line).toMatchObject({ status: 200, provider: 'anthropic', fallbacks: 2 });

    vertex.queue.push(overloaded);
    const streamed = await client.messages.stream({ model: 'sonnet', max_tokens: 64, messages: [{ role: 'user', content: 'Hi' }] }).finalMessage();
    expect(streamed.stop_reason).toBe('end_turn');
    expect((await lastLine(before + 1)).provider).toBe('anthropic');
  });

  test('all three fail: the client gets the last error in Anthropic form, not a success', async () => {
    vertex.queue.push(overloaded);
    anthropic.queue.push({ kind: 'error', status: 529, type: 'overloaded_error', message: 'Overloaded' });
    const err = await client.messages.create({ model: 'sonnet', max_tokens: 64, messages: [{ role: 'user', content: 'Hi' }] }).catch((e) => e);
    expect(err).toBeInstanceOf(Anthropic.APIError);
    expect(err.status).toBe(529);
    expect(err.error?.error?.type).toBe('overloaded_error');
  });

  test('Bedrock healthy: it answers first, the others are not called', async () => {
    bedrockThrottled = false;
    const vertexCalls = vertex.calls.length;
    const anthropicCalls = anthropic.received.length;
    const msg = await client.messages.create({ model: 'sonnet', max_tokens: 64, messages: [{ role: 'user', content: 'Hi' }] });
    expect(msg.content[0]).toMatchObject({ type: 'text', text: 'Hello from Bedrock' });
    expect(vertex.calls.length).toBe(vertexCalls);
    expect(anthropic.received.length).toBe(anthropicCalls);
  });
});

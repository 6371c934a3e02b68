import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  bedrockAuth,
  cachedCredentials,
  CredentialError,
  describeAwsSource,
  REFRESH_MARGIN_MS,
  type BedrockAuth,
} from '../gateway/src/providers/bedrock/credentials';
import { BedrockStreamDecoder, toSse, type BedrockStreamItem } from '../gateway/src/providers/bedrock/stream';
import { SseEventTooLarge } from '../gateway/src/core/sse';
import { bedrockErrorReply, mapBedrockError } from '../gateway/src/providers/bedrock/errors';
import {
  countTokensPath,
  DEFAULT_BEDROCK_BETAS,
  filterBetas,
  fromCountTokensResponse,
  invokePath,
  toBedrockBody,
  toCountTokensBody,
} from '../gateway/src/providers/bedrock/request';
import { chunkFrame, exceptionFrame, streamEvents } from './helpers/bedrock-frames';
import { awsError, startFakeBedrock, throttledStream, type FakeBedrock } from './helpers/fake-bedrock';
import { startFakeSts } from './helpers/fake-sts';

const CLAUDE_CODE_BETAS =
  'claude-code-20250219,oauth-2025-04-20,interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14,prompt-caching-scope-2026-01-05';

describe('Bedrock request body', () => {
  const body = {
    model: 'claude-sonnet-4-5',
    stream: true,
    max_tokens: 100,
    messages: [{ role: 'user', content: 'hi' }],
    tools: [{ name: 't', input_schema: { type: 'object' }, eager_input_streaming: true }],
  };

  test('drops model and stream, sets the Bedrock version, leaves the client body untouched', () => {
    const out = toBedrockBody(body, undefined);
    expect(out).toEqual({
      anthropic_version: 'bedrock-2023-05-31',
      max_tokens: 100,
      messages: [{ role: 'user', content: 'hi' }],
      tools: [{ name: 't', input_schema: { type: 'object' } }],
    });
    expect(body.tools[0].eager_input_streaming).toBe(true);
    expect(body.model).toBe('claude-sonnet-4-5');
  });

  test("Claude Code's beta header is filtered to what Bedrock accepts and moved into the body", () => {
    expect(toBedrockBody(body, CLAUDE_CODE_BETAS).anthropic_beta).toEqual(['interleaved-thinking-2025-05-14', 'fine-grained-tool-streaming-2025-05-14']);
    expect(toBedrockBody(body, 'claude-code-20250219').anthropic_beta).toBeUndefined();
    // A client-sent body field is not trusted past the allowlist.
    expect(toBedrockBody({ ...body, anthropic_beta: ['oauth-2025-04-20'] }, undefined).anthropic_beta).toBeUndefined();
  });

  test('betas: several header values, duplicates, prefix entries, a configured list', () => {
    expect(filterBetas(['computer-use-2025-01-24, context-1m-2025-08-07', 'context-1m-2025-08-07'], DEFAULT_BEDROCK_BETAS)).toEqual([
      'computer-use-2025-01-24',
      'context-1m-2025-08-07',
    ]);
    expect(toBedrockBody(body, CLAUDE_CODE_BETAS, { betas: ['oauth-*'] }).anthropic_beta).toEqual(['oauth-2025-04-20']);
  });

  test('drop list: default strips tools[].eager_input_streaming; a configured list replaces it', () => {
    const rich = { ...body, output_config: { effort: 'low' }, system: [{ type: 'text', text: 's', cache_control: { type: 'ephemeral', ttl: '1h' } }] };
    expect(toBedrockBody(rich, undefined).output_config).toEqual({ effort: 'low' });
    const out = toBedrockBody(rich, undefined, { dropFields: ['output_config', 'system[].cache_control.ttl'] });
    expect(out.output_config).toBeUndefined();
    expect(out.system).toEqual([{ type: 'text', text: 's', cache_control: { type: 'ephemeral' } }]);
    expect((out.tools as any)[0].eager_input_streaming).toBe(true);
  });

  test('paths: ids, inference profiles and ARNs encoded as one segment, as the SDK does', () => {
    expect(invokePath('anthropic.claude-sonnet-4-5-20250929-v1:0', false)).toBe('/model/anthropic.claude-sonnet-4-5-20250929-v1:0/invoke');
    expect(invokePath('us.anthropic.claude-sonnet-4-5-20250929-v1:0', true)).toBe(
      '/model/us.anthropic.claude-sonnet-4-5-20250929-v1:0/invoke-with-response-stream',
    );
    expect(invokePath('arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc 1', false)).toBe(
      '/model/arn:aws:bedrock:us-east-1:123456789012:application-inference-profile%2Fabc%201/invoke',
    );
  });

  test('count-tokens: base model id, base64 invoke body with max_tokens, answer mapped', () => {
    expect(countTokensPath('us.anthropic.claude-sonnet-4-5-20250929-v1:0')).toBe('/model/anthropic.claude-sonnet-4-5-20250929-v1:0/count-tokens');
    const wrapped = toCountTokensBody(toBedrockBody({ model: 'x', messages: [{ role: 'user', content: 'hi' }] }, undefined));
    expect(JSON.parse(Buffer.from(wrapped.input.invokeModel.body, 'base64').toString())).toEqual({
      anthropic_version: 'bedrock-2023-05-31',
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 1,
    });
    expect(fromCountTokensResponse({ inputTokens: 42 })).toEqual({ input_tokens: 42 });
    expect(fromCountTokensResponse({ input_tokens: 42 })).toBeUndefined();
  });
});

function decodeAll(chunks: Buffer[], decoder = new BedrockStreamDecoder()): { items: BedrockStreamItem[]; decoder: BedrockStreamDecoder } {
  const items = chunks.flatMap((c) => decoder.push(c));
  items.push(...decoder.end());
  return { items, decoder };
}

describe('Bedrock event-stream decoding', () => {
  const events = streamEvents();
  const wire = Buffer.concat(events.map(chunkFrame));

  test('frames → Anthropic events, invocation metrics stripped but kept for usage', () => {
    const { items, decoder } = decodeAll([wire]);
    expect(items.map((i) => i.kind === 'event' && i.type)).toEqual([
      'message_start',
      'content_block_start',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    expect(items[5]).toEqual({ kind: 'event', type: 'message_stop', data: { type: 'message_stop' } });
    expect(decoder.metrics).toEqual({
      inputTokenCount: 12,
      outputTokenCount: 5,
      invocationLatency: 300,
      firstByteLatency: 100,
      cacheReadInputTokenCount: 7,
      cacheWriteInputTokenCount: 3,
    });
    expect(toSse(items[2])).toBe(`event: content_block_delta\ndata: ${JSON.stringify(events[2])}\n\n`);
  });

  test('the same events whatever byte the TCP chunks split at (every split point, and byte by byte)', () => {
    const whole = decodeAll([wire]).items;
    for (let cut = 1; cut < wire.length; cut++) {
      expect(decodeAll([wire.subarray(0, cut), wire.subarray(cut)]).items).toEqual(whole);
    }
    expect(decodeAll([...wire].map((b) => Buffer.from([b]))).items).toEqual(whole);
  });

  test('an exception frame mid-stream ends it with a mapped error event', () => {
    const frames = [chunkFrame(events[0]), exceptionFrame('throttlingException', 'Too many tokens, please wait before trying again.'), chunkFrame(events[1])];
    const { items } = decodeAll(frames);
    expect(items).toHaveLength(2);
    expect(items[1]).toEqual({
      kind: 'error',
      error: { status: 429, type: 'rate_limit_error', message: 'Bedrock throttlingException: Too many tokens, please wait before trying again.' },
    });
    expect(toSse(items[1])).toBe(
      'event: error\ndata: {"type":"error","error":{"type":"rate_limit_error","message":"Bedrock throttlingException: Too many tokens, please wait before trying again."}}\n\n',
    );
    const other = (name: string) => (decodeAll([exceptionFrame(name, 'x')]).items[0] as any).error;
    expect(other('modelStreamErrorException')).toMatchObject({ status: 500, type: 'api_error' });
    expect(other('serviceUnavailableException')).toMatchObject({ status: 529, type: 'overloaded_error' });
    expect(other('internalServerException')).toMatchObject({ status: 500, type: 'api_error' });
    expect(other('validationException')).toMatchObject({ status: 400, type: 'invalid_request_error' });
  });

  test('a CRC error (one flipped payload byte) is a corrupt-stream error, nothing after it', () => {
    const bad = Buffer.from(chunkFrame(events[1]));
    bad[40] ^= 0xff;
    const { items } = decodeAll([chunkFrame(events[0]), bad, chunkFrame(events[2])]);
    expect(items).toHaveLength(2);
    expect(items[1]).toMatchObject({ kind: 'error', error: { status: 502, type: 'api_error' } });
    expect((items[1] as any).error.message).toMatch(/Bedrock event stream is corrupt: .*checksum/);
  });

  test('an oversized frame length is refused before buffering it (the too-large failure an SSE event past the cap is)', () => {
    const decoder = new BedrockStreamDecoder(1000);
    const big = chunkFrame({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'x'.repeat(2000) } });
    expect(() => decoder.push(big.subarray(0, 12))).toThrow(SseEventTooLarge);
    expect(() => decoder.push(big.subarray(12))).toThrow(SseEventTooLarge);
  });

  test('events before an oversized frame in the same chunk are delivered first; then it throws', () => {
    const decoder = new BedrockStreamDecoder(1000);
    const big = chunkFrame({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'x'.repeat(2000) } });
    const items = decoder.push(Buffer.concat([chunkFrame(events[0]), big.subarray(0, 20)]));
    expect(items.map((i) => i.kind === 'event' && i.type)).toEqual(['message_start']);
    expect(decoder.tooLarge).toBe(true);
    expect(() => decoder.end()).toThrow(SseEventTooLarge);
  });

  test('a frame length below the minimum is a corrupt stream', () => {
    const bad = Buffer.alloc(12);
    bad.writeUInt32BE(8, 0);
    expect(new BedrockStreamDecoder().push(bad)).toEqual([
      { kind: 'error', error: expect.objectContaining({ status: 502, message: expect.stringContaining('below the minimum') }) },
    ]);
  });

  test('a stream cut inside a frame ends with an error, not silently', () => {
    const cut = wire.subarray(0, wire.length - 5);
    const { items } = decodeAll([cut]);
    expect(items.at(-1)).toMatchObject({ kind: 'error', error: { type: 'api_error', message: expect.stringContaining('ended inside a frame') } });
  });

  test("Anthropic's own error event inside a chunk is terminal, its type kept (as the Bedrock SDK reads it)", () => {
    const { items } = decodeAll([
      chunkFrame(events[0]),
      chunkFrame({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }),
      chunkFrame(events[1]),
    ]);
    expect(items.slice(1)).toEqual([{ kind: 'error', error: { status: 529, type: 'overloaded_error', message: 'Overloaded' } }]);
  });

  test('a chunk whose bytes are not an Anthropic event is a corrupt stream', () => {
    const { items } = decodeAll([chunkFrame({ nottype: 1 })]);
    expect(items[0]).toMatchObject({ kind: 'error', error: { status: 502 } });
  });
});

describe('Bedrock error mapping', () => {
  const reply = (status: number, type: string | undefined, body: unknown) =>
    bedrockErrorReply(
      status,
      type ? { 'x-amzn-errortype': type } : {},
      Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)),
      'req_1',
      [],
      'anthropic.claude-sonnet-4-5-20250929-v1:0',
    );

  test.each([
    ['ThrottlingException', 429, 429, 'rate_limit_error'],
    ['ServiceQuotaExceededException', 400, 429, 'rate_limit_error'],
    ['ServiceUnavailableException', 503, 529, 'overloaded_error'],
    ['ModelNotReadyException', 429, 529, 'overloaded_error'],
    ['ValidationException', 400, 400, 'invalid_request_error'],
    ['AccessDeniedException', 403, 403, 'permission_error'],
    ['ResourceNotFoundException', 404, 404, 'not_found_error'],
    ['ModelTimeoutException', 408, 504, 'timeout_error'],
    ['InternalServerException', 500, 500, 'api_error'],
    ['UnrecognizedClientException', 403, 401, 'authentication_error'],
  ])('%s (HTTP %i) → %i %s', (name, http, status, type) => {
    const r = reply(http, `${name}:http://internal.amazon.com/coral/com.amazon.bedrock/`, { message: 'aws says no' });
    expect(r.status).toBe(status);
    expect(r.body).toMatchObject({ type: 'error', error: { type }, request_id: 'req_1' });
    expect(r.body.error.message).toContain(`Bedrock ${name}: aws says no`);
  });

  test("ValidationException keeps AWS's message; AccessDenied names the principal and the model", () => {
    expect(reply(400, 'ValidationException', { message: 'messages: Extra inputs are not permitted' }).body.error.message).toBe(
      'Bedrock ValidationException: messages: Extra inputs are not permitted',
    );
    const denied = reply(403, 'AccessDeniedException', {
      message: 'User: arn:aws:sts::123456789012:assumed-role/switchyard/pod is not authorized to perform: bedrock:InvokeModel',
    }).body.error.message;
    expect(denied).toContain('assumed-role/switchyard');
    expect(denied).toContain('(model anthropic.claude-sonnet-4-5-20250929-v1:0)');
  });

  test('no header: the type in the body, else the status; a secret in the text is redacted', () => {
    expect(reply(429, undefined, { __type: 'com.amazon.bedrock#ThrottlingException', message: 'slow down' }).body.error.type).toBe('rate_limit_error');
    expect(reply(503, undefined, 'upstream connect error')).toMatchObject({ status: 529, body: { error: { type: 'overloaded_error' } } });
    expect(mapBedrockError(400, 'ValidationException', { message: 'bad key AKIASECRETSECRET1' }, ['AKIASECRETSECRET1']).message).toBe(
      'Bedrock ValidationException: bad key [redacted]',
    );
  });
});

describe('Bedrock credentials and SigV4 against the fake Bedrock (real HTTP)', () => {
  const REGION = 'us-east-1';
  const STATIC = { accessKeyId: 'AKIAFAKESTATIC000001', secretAccessKey: 'staticSecretKeyForTests0000000000000000000' };
  const MODEL = 'us.anthropic.claude-sonnet-4-5-20250929-v1:0';
  let bedrock: FakeBedrock;
  const saved = { ...process.env };

  beforeAll(async () => {
    bedrock = await startFakeBedrock({
      region: REGION,
      keys: { [STATIC.accessKeyId]: STATIC.secretAccessKey, [STS_ISSUED.accessKeyId]: STS_ISSUED.secretAccessKey },
      sessionTokens: { [STS_ISSUED.accessKeyId]: STS_ISSUED.sessionToken },
      apiKey: 'bedrock-api-key-ABSKexample000000000000',
    });
  });
  afterAll(() => bedrock.close());
  afterEach(() => {
    process.env = { ...saved };
  });

  async function send(auth: BedrockAuth, path: string, body: unknown) {
    const url = `${bedrock.url}${path}`;
    const payload = JSON.stringify(body);
    const headers = await auth.headers({ method: 'POST', url, headers: { 'content-type': 'application/json', accept: 'application/json' }, body: payload });
    return fetch(url, { method: 'POST', headers, body: payload });
  }

  const invokeBody = toBedrockBody({ model: 'x', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] }, CLAUDE_CODE_BETAS);

  test('static keys: invoke, stream (decoded from real frames) and count-tokens are accepted by the verifying fake', async () => {
    const auth = bedrockAuth({ kind: 'static', ...STATIC }, REGION);
    const r = await send(auth, invokePath(MODEL, false), invokeBody);
    expect(r.status).toBe(200);
    expect(((await r.json()) as any).id).toBe('msg_bdrk_01');
    expect(bedrock.requests.at(-1)).toMatchObject({ auth: 'sigv4', accessKeyId: STATIC.accessKeyId, path: invokePath(MODEL, false) });
    expect(bedrock.requests.at(-1)!.json.anthropic_beta).toEqual(['interleaved-thinking-2025-05-14', 'fine-grained-tool-streaming-2025-05-14']);

    const s = await send(auth, invokePath(MODEL, true), invokeBody);
    expect(s.headers.get('content-type')).toBe('application/vnd.amazon.eventstream');
    const decoder = new BedrockStreamDecoder();
    const items: BedrockStreamItem[] = [];
    for await (const chunk of s.body as any) items.push(...decoder.push(chunk));
    items.push(...decoder.end());
    expect(items.map((i) => (i.kind === 'event' ? i.type : 'error'))).toEqual([
      'message_start',
      'content_block_start',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    expect(decoder.metrics?.cacheReadInputTokenCount).toBe(7);

    const c = await send(auth, countTokensPath(MODEL), toCountTokensBody(invokeBody));
    expect(fromCountTokensResponse(await c.json())).toEqual({ input_tokens: JSON.stringify(invokeBody.messages).length });
    expect(bedrock.requests.at(-1)!.path).toBe('/model/anthropic.claude-sonnet-4-5-20250929-v1:0/count-tokens');
  });

  test('an ARN model id (with an encoded /) signs and verifies', async () => {
    const arn = 'arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123';
    const r = await send(bedrockAuth({ kind: 'static', ...STATIC }, REGION), invokePath(arn, false), invokeBody);
    expect(r.status).toBe(200);
    expect(bedrock.requests.at(-1)!.path).toBe('/model/arn:aws:bedrock:us-east-1:123456789012:application-inference-profile%2Fabc123/invoke');
  });

  test('the fake really verifies: a wrong secret, a tampered body, a wrong region are refused', async () => {
    const wrong = await send(
      bedrockAuth({ kind: 'static', ...STATIC, secretAccessKey: 'not-the-secret-000000000000000000000000000' }, REGION),
      invokePath(MODEL, false),
      invokeBody,
    );
    expect(wrong.status).toBe(403);
    expect(wrong.headers.get('x-amzn-errortype')).toMatch(/^UnrecognizedClientException/);
    expect(bedrock.rejected.at(-1)).toMatch(/signature we calculated does not match/);

    const auth = bedrockAuth({ kind: 'static', ...STATIC }, REGION);
    const url = `${bedrock.url}${invokePath(MODEL, false)}`;
    const headers = await auth.headers({ method: 'POST', url, headers: { 'content-type': 'application/json' }, body: '{"a":1}' });
    expect((await fetch(url, { method: 'POST', headers, body: '{"a":2}' })).status).toBe(403);

    expect((await send(bedrockAuth({ kind: 'static', ...STATIC }, 'eu-west-1'), invokePath(MODEL, false), invokeBody)).status).toBe(403);
  });

  test('HTTP errors and a mid-stream exception frame from the fake, mapped to Anthropic', async () => {
    const errors = await startFakeBedrock({
      region: REGION,
      keys: { [STATIC.accessKeyId]: STATIC.secretAccessKey },
      reply: (rec, res) =>
        rec.path.endsWith('-stream') ? throttledStream(res) : awsError(res, 429, 'ThrottlingException', 'Too many requests, please wait before trying again.'),
    });
    try {
      const auth = bedrockAuth({ kind: 'static', ...STATIC }, REGION);
      const url = (p: string) => `${errors.url}${p}`;
      const payload = JSON.stringify(invokeBody);
      const h1 = await auth.headers({ method: 'POST', url: url(invokePath(MODEL, false)), headers: { 'content-type': 'application/json' }, body: payload });
      const r = await fetch(url(invokePath(MODEL, false)), { method: 'POST', headers: h1, body: payload });
      const mapped = bedrockErrorReply(r.status, Object.fromEntries(r.headers), Buffer.from(await r.arrayBuffer()), 'req_9');
      expect(mapped).toEqual({
        status: 429,
        body: {
          type: 'error',
          error: { type: 'rate_limit_error', message: 'Bedrock ThrottlingException: Too many requests, please wait before trying again.' },
          request_id: 'req_9',
        },
      });

      const h2 = await auth.headers({ method: 'POST', url: url(invokePath(MODEL, true)), headers: { 'content-type': 'application/json' }, body: payload });
      const s = await fetch(url(invokePath(MODEL, true)), { method: 'POST', headers: h2, body: payload });
      expect(s.status).toBe(200);
      const decoder = new BedrockStreamDecoder();
      let sse = '';
      for await (const chunk of s.body as any) sse += decoder.push(chunk).map(toSse).join('');
      sse += decoder.end().map(toSse).join('');
      expect(sse).toMatch(/^event: message_start\n.*\n\nevent: error\ndata: \{"type":"error","error":\{"type":"rate_limit_error",/s);
    } finally {
      await errors.close();
    }
  });

  test('a Bedrock API key goes as Bearer, unsigned', async () => {
    const r = await send(bedrockAuth({ kind: 'apiKey', apiKey: 'bedrock-api-key-ABSKexample000000000000' }, REGION), invokePath(MODEL, false), invokeBody);
    expect(r.status).toBe(200);
    expect(bedrock.requests.at(-1)).toMatchObject({ auth: 'bearer' });
    expect(bedrock.requests.at(-1)!.headers['x-amz-date']).toBeUndefined();
  });

  test('default chain, web identity (IRSA): STS via AWS_ENDPOINT_URL_STS, temporary keys sign, cached across requests', async () => {
    const sts = await startFakeSts({ roleArn: ROLE_ARN, token: 'projected-sa-token', issue: { ...STS_ISSUED, expiration: new Date(Date.now() + 3600_000) } });
    try {
      const dir = mkdtempSync(join(tmpdir(), 'irsa-'));
      writeFileSync(join(dir, 'token'), 'projected-sa-token');
      isolateAwsEnv({
        AWS_WEB_IDENTITY_TOKEN_FILE: join(dir, 'token'),
        AWS_ROLE_ARN: ROLE_ARN,
        AWS_ROLE_SESSION_NAME: 'switchyard',
        AWS_ENDPOINT_URL_STS: sts.url,
        AWS_REGION: REGION,
      });
      const auth = bedrockAuth({ kind: 'chain' }, REGION);
      for (let i = 0; i < 3; i++) expect((await send(auth, invokePath(MODEL, false), invokeBody)).status).toBe(200);
      expect(bedrock.requests.at(-1)).toMatchObject({ auth: 'sigv4', accessKeyId: STS_ISSUED.accessKeyId });
      expect(bedrock.requests.at(-1)!.headers['x-amz-security-token']).toBe(STS_ISSUED.sessionToken);
      expect(sts.calls).toEqual([{ roleArn: ROLE_ARN, token: 'projected-sa-token', sessionName: 'switchyard' }]);
    } finally {
      await sts.close();
    }
  });

  test('credentials about to expire are refreshed before use', async () => {
    let calls = 0;
    let t = 0;
    const inner = async () => ({ ...STATIC, expiration: new Date(10 * 60_000 * ++calls) });
    const provider = cachedCredentials(inner, () => t);
    await provider();
    await provider();
    expect(calls).toBe(1);
    t = 10 * 60_000 - REFRESH_MARGIN_MS + 1; // inside the margin of the first expiry
    await provider();
    expect(calls).toBe(2);
  });

  test('a chain that finds nothing is a CredentialError naming provider and source, never a secret', async () => {
    isolateAwsEnv({ AWS_EC2_METADATA_DISABLED: 'true', AWS_REGION: REGION });
    const auth = bedrockAuth({ kind: 'chain' }, REGION);
    const err = await auth.headers({ method: 'POST', url: `${bedrock.url}/model/x/invoke`, headers: {}, body: '{}' }).catch((e) => e);
    expect(err).toBeInstanceOf(CredentialError);
    expect(err).toMatchObject({ provider: 'bedrock', source: describeAwsSource({ kind: 'chain' }) });
    expect(err.message).toMatch(/^bedrock: could not obtain credentials from AWS default credential chain/);

    // STS refusing the token: the message names the source, not the token.
    const sts = await startFakeSts({ roleArn: ROLE_ARN, token: 'another-token', issue: { ...STS_ISSUED, expiration: new Date(Date.now() + 3600_000) } });
    try {
      const dir = mkdtempSync(join(tmpdir(), 'irsa-'));
      writeFileSync(join(dir, 'token'), 'projected-sa-token-SECRET');
      isolateAwsEnv({
        AWS_WEB_IDENTITY_TOKEN_FILE: join(dir, 'token'),
        AWS_ROLE_ARN: ROLE_ARN,
        AWS_ENDPOINT_URL_STS: sts.url,
        AWS_REGION: REGION,
        AWS_EC2_METADATA_DISABLED: 'true',
      });
      const e2 = await bedrockAuth({ kind: 'chain' }, REGION)
        .headers({ method: 'POST', url: `${bedrock.url}/model/x/invoke`, headers: {}, body: '{}' })
        .catch((e) => e);
      expect(e2).toBeInstanceOf(CredentialError);
      expect(e2.message).not.toContain('projected-sa-token-SECRET');
      expect(sts.calls.length).toBeGreaterThan(0);
    } finally {
      await sts.close();
    }
  });
});

const ROLE_ARN = 'arn:aws:iam::123456789012:role/switchyard-bedrock';
const STS_ISSUED = {
  accessKeyId: 'ASIAFAKESTSISSUED001',
  secretAccessKey: 'stsIssuedSecretForTests00000000000000000000',
  sessionToken: 'FwoGZXIvYXdzEFAKESESSIONTOKEN',
};

/** Only the given AWS settings, and no shared config files from the machine running the tests. */
function isolateAwsEnv(vars: Record<string, string>): void {
  for (const k of Object.keys(process.env)) if (k.startsWith('AWS_')) delete process.env[k];
  const none = join(tmpdir(), 'switchyard-no-aws-config');
  Object.assign(process.env, { AWS_CONFIG_FILE: none, AWS_SHARED_CREDENTIALS_FILE: none }, vars);
}

import type { Gateway } from '../gateway/src/gateway';
import { startFakeAnthropic, type FakeAnthropic } from './helpers/fake-anthropic';
import { CLIENT_KEY, apiKey, baseURL, modelRoute, secret, snapshotOf, startGateway } from './helpers/gateway';
import { rawRequest, type RawResponse } from './helpers/raw-http';
import { installTelemetry } from '../gateway/src/telemetry';
import { parseProm } from './helpers/prom';

const MAX_BODY = 64 * 1024;
const good = { model: 'claude-test', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] };
const withBody = (over: Record<string, unknown>) => JSON.stringify({ ...good, ...over });
const msg = (content: unknown, role = 'user') => withBody({ messages: [{ role, content }] });

interface Case {
  name: string;
  status: number;
  type: string;
  /** Substring the error message must contain (field paths, limits). */
  says?: string;
  body?: string | Buffer;
  headers?: Record<string, string | string[]>;
  method?: string;
  path?: string;
  /** Raw bytes for cases fetch cannot produce. */
  raw?: (port: number) => Promise<RawResponse>;
}

const json = { 'content-type': 'application/json', 'x-api-key': CLIENT_KEY };
const deep = (n: number) => '{"model":"claude-test","max_tokens":1,"messages":[],"x":' + '['.repeat(n) + ']'.repeat(n) + '}';

const cases: Case[] = [
  { name: 'malformed JSON', status: 400, type: 'invalid_request_error', says: 'not valid JSON', body: '{"model": "claude-test",' },
  { name: 'empty body', status: 400, type: 'invalid_request_error', says: 'empty', body: '' },
  { name: 'JSON array body', status: 400, type: 'invalid_request_error', says: 'JSON object', body: '[1,2]' },
  { name: 'JSON string body', status: 400, type: 'invalid_request_error', says: 'JSON object', body: '"hello"' },
  { name: 'JSON null body', status: 400, type: 'invalid_request_error', says: 'JSON object', body: 'null' },
  {
    name: 'wrong content type',
    status: 400,
    type: 'invalid_request_error',
    says: 'content-type',
    body: JSON.stringify(good),
    headers: { 'content-type': 'text/plain' },
  },
  {
    name: 'form content type (curl -d default)',
    status: 400,
    type: 'invalid_request_error',
    says: 'content-type',
    body: JSON.stringify(good),
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  },
  {
    name: 'invalid UTF-8',
    status: 400,
    type: 'invalid_request_error',
    says: 'UTF-8',
    body: Buffer.concat([Buffer.from('{"model":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]),
  },
  { name: 'missing model', status: 400, type: 'invalid_request_error', says: 'model: Field required', body: JSON.stringify({ max_tokens: 1, messages: [] }) },
  { name: 'model is a number', status: 400, type: 'invalid_request_error', says: 'model: Input should be a valid string', body: withBody({ model: 42 }) },
  { name: 'model is empty', status: 400, type: 'invalid_request_error', says: 'model', body: withBody({ model: '' }) },
  {
    name: 'missing max_tokens',
    status: 400,
    type: 'invalid_request_error',
    says: 'max_tokens: Field required',
    body: JSON.stringify({ model: 'claude-test', messages: [] }),
  },
  { name: 'max_tokens is a string', status: 400, type: 'invalid_request_error', says: 'max_tokens', body: withBody({ max_tokens: '100' }) },
  { name: 'max_tokens negative', status: 400, type: 'invalid_request_error', says: 'max_tokens', body: withBody({ max_tokens: -5 }) },
  { name: 'max_tokens fractional', status: 400, type: 'invalid_request_error', says: 'max_tokens', body: withBody({ max_tokens: 1.5 }) },
  {
    name: 'max_tokens overflowing to Infinity',
    status: 400,
    type: 'invalid_request_error',
    says: 'max_tokens',
    body: '{"model":"claude-test","max_tokens":1e400,"messages":[{"role":"user","content":"x"}]}',
  },
  {
    name: 'empty messages list',
    status: 400,
    type: 'invalid_request_error',
    says: 'messages: at least one message is required',
    body: withBody({ messages: [] }),
  },
  {
    name: 'messages not a list',
    status: 400,
    type: 'invalid_request_error',
    says: 'messages: Input should be a valid list',
    body: withBody({ messages: { role: 'user' } }),
  },
  {
    name: 'message without role',
    status: 400,
    type: 'invalid_request_error',
    says: 'messages.0.role: Field required',
    body: withBody({ messages: [{ content: 'x' }] }),
  },
  { name: 'content is a number', status: 400, type: 'invalid_request_error', says: 'messages.0.content: Input should be a valid string or list', body: msg(7) },
  { name: 'block without type', status: 400, type: 'invalid_request_error', says: 'messages.0.content.0.type: Field required', body: msg([{ text: 'x' }]) },
  {
    name: 'text block without text',
    status: 400,
    type: 'invalid_request_error',
    says: 'messages.0.content.0.text: Field required',
    body: msg([{ type: 'text' }]),
  },
  {
    name: 'image with a bad media type',
    status: 400,
    type: 'invalid_request_error',
    says: 'messages.2.content.0.source.media_type',
    body: withBody({
      messages: [
        { role: 'user', content: 'a' },
        { role: 'assistant', content: 'b' },
        { role: 'user', content: [{ type: 'image', source: { type: 'base64', media_type: 'image/bmp', data: 'AAAA' } }] },
      ],
    }),
  },
  {
    name: 'image without data',
    status: 400,
    type: 'invalid_request_error',
    says: 'messages.0.content.0.source.data: Field required',
    body: msg([{ type: 'image', source: { type: 'base64', media_type: 'image/png' } }]),
  },
  {
    name: 'tool_use input not an object',
    status: 400,
    type: 'invalid_request_error',
    says: 'messages.0.content.0.input',
    body: msg([{ type: 'tool_use', id: 'toolu_1', name: 'x', input: '{}' }], 'assistant'),
  },
  {
    name: 'tool_result content wrong type',
    status: 400,
    type: 'invalid_request_error',
    says: 'messages.0.content.0.content',
    body: msg([{ type: 'tool_result', tool_use_id: 'toolu_1', content: 5 }]),
  },
  { name: 'tools not a list', status: 400, type: 'invalid_request_error', says: 'tools', body: withBody({ tools: { name: 'x' } }) },
  {
    name: 'custom tool without input_schema',
    status: 400,
    type: 'invalid_request_error',
    says: 'tools.0.input_schema: Field required',
    body: withBody({ tools: [{ name: 'x' }] }),
  },
  {
    name: 'tool_choice with unknown type',
    status: 400,
    type: 'invalid_request_error',
    says: 'tool_choice.type',
    body: withBody({ tool_choice: { type: 'sometimes' } }),
  },
  {
    name: 'tool_choice tool without name',
    status: 400,
    type: 'invalid_request_error',
    says: 'tool_choice.name: Field required',
    body: withBody({ tool_choice: { type: 'tool' } }),
  },
  {
    name: 'thinking enabled without budget',
    status: 400,
    type: 'invalid_request_error',
    says: 'thinking.budget_tokens: Field required',
    body: withBody({ thinking: { type: 'enabled' } }),
  },
  { name: 'stream is a string', status: 400, type: 'invalid_request_error', says: 'stream', body: withBody({ stream: 'yes' }) },
  { name: 'temperature is a string', status: 400, type: 'invalid_request_error', says: 'temperature', body: withBody({ temperature: 'hot' }) },
  { name: 'stop_sequences not a list', status: 400, type: 'invalid_request_error', says: 'stop_sequences', body: withBody({ stop_sequences: 'END' }) },
  { name: 'metadata.user_id a number', status: 400, type: 'invalid_request_error', says: 'metadata.user_id', body: withBody({ metadata: { user_id: 12 } }) },
  { name: 'deep nesting', status: 400, type: 'invalid_request_error', says: 'deeper than', body: deep(300) },
  { name: 'body over the limit (content-length)', status: 413, type: 'request_too_large', says: `${MAX_BODY}`, body: withBody({ pad: 'x'.repeat(MAX_BODY) }) },
  {
    name: 'body over the limit (chunked, no length)',
    status: 413,
    type: 'request_too_large',
    raw: (port) =>
      rawRequest(
        port,
        `POST /v1/messages HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nx-api-key: ${CLIENT_KEY}\r\ntransfer-encoding: chunked\r\n\r\n` +
          `4000\r\n${'x'.repeat(0x4000)}\r\n`.repeat(8) +
          '0\r\n\r\n',
      ),
  },
  {
    name: 'unsupported content-encoding',
    status: 415,
    type: 'invalid_request_error',
    says: 'gzip',
    body: JSON.stringify(good),
    headers: { 'content-encoding': 'gzip' },
  },
  { name: 'no API key', status: 401, type: 'authentication_error', says: 'x-api-key', body: JSON.stringify(good), headers: { 'x-api-key': '' } },
  { name: 'unknown API key', status: 401, type: 'authentication_error', says: 'invalid', body: JSON.stringify(good), headers: { 'x-api-key': 'sk-unknown' } },
  {
    name: 'malformed Authorization',
    status: 401,
    type: 'authentication_error',
    says: 'Bearer',
    body: JSON.stringify(good),
    headers: { 'x-api-key': '', authorization: 'Basic dXNlcjpwYXNz' },
  },
  {
    name: 'duplicate x-api-key headers',
    status: 400,
    type: 'invalid_request_error',
    says: 'more than once',
    raw: (port) => {
      const b = JSON.stringify(good);
      return rawRequest(
        port,
        `POST /v1/messages HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nx-api-key: ${CLIENT_KEY}\r\nx-api-key: other\r\ncontent-length: ${b.length}\r\nconnection: close\r\n\r\n${b}`,
      );
    },
  },
  { name: 'disabled key', status: 401, type: 'authentication_error', says: 'disabled', body: JSON.stringify(good), headers: { 'x-api-key': 'sk-disabled' } },
  { name: 'expired key', status: 401, type: 'authentication_error', says: 'expired', body: JSON.stringify(good), headers: { 'x-api-key': 'sk-expired' } },
  {
    name: 'model the key may not use',
    status: 403,
    type: 'permission_error',
    says: 'claude-test',
    body: JSON.stringify(good),
    headers: { 'x-api-key': 'sk-limited' },
  },
  { name: 'unknown model', status: 404, type: 'not_found_error', says: 'no-such-model', body: withBody({ model: 'no-such-model' }) },
  { name: 'wrong method', status: 405, type: 'invalid_request_error', method: 'GET' },
  { name: 'unknown path', status: 404, type: 'not_found_error', path: '/v2/messages', body: JSON.stringify(good) },
  {
    name: 'slow-loris body',
    status: 408,
    type: 'invalid_request_error',
    says: 'not received',
    raw: (port) =>
      rawRequest(port, [
        { data: `POST /v1/messages HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nx-api-key: ${CLIENT_KEY}\r\ncontent-length: 200\r\n\r\n{"model":` },
      ]),
  },
  {
    name: 'invalid content-length header',
    status: 400,
    type: 'invalid_request_error',
    raw: (port) => rawRequest(port, `POST /v1/messages HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: abc\r\n\r\n{}`),
  },
  {
    name: 'header with control characters',
    status: 400,
    type: 'invalid_request_error',
    raw: (port) => rawRequest(port, `POST /v1/messages HTTP/1.1\r\nhost: x\r\nx-api-key: a\x01b\r\ncontent-length: 2\r\n\r\n{}`),
  },
  {
    name: 'not HTTP at all',
    status: 400,
    type: 'invalid_request_error',
    raw: (port) => rawRequest(port, '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 TLS hello to a plain port\r\n\r\n'),
  },
];

describe('bad input never crashes the gateway and always gets the right envelope', () => {
  let fake: FakeAnthropic;
  let gw: Gateway;
  const logLines: string[] = [];
  const statuses: number[] = [];

  beforeAll(async () => {
    fake = await startFakeAnthropic();
    const route = (name: string, model: string) => modelRoute(name, { model, targets: [{ provider: 'anthropic', model: 'up', baseURL: fake.url }] });
    gw = await startGateway(
      snapshotOf([
        secret('keys', { main: CLIENT_KEY, disabled: 'sk-disabled', expired: 'sk-expired', limited: 'sk-limited' }),
        route('main', 'claude-test'),
        route('other', 'other-model'),
        apiKey('main', { secretRef: { name: 'keys', key: 'main' } }),
        apiKey('disabled', { secretRef: { name: 'keys', key: 'disabled' }, disabled: true }),
        apiKey('expired', { secretRef: { name: 'keys', key: 'expired' }, expiresAt: '2020-01-01T00:00:00Z' }),
        apiKey('limited', { secretRef: { name: 'keys', key: 'limited' }, allowedModels: ['other-*'] }),
      ]),
      { options: { maxBodyBytes: MAX_BODY, bodyIdleTimeoutMs: 300 } },
    );
    installTelemetry(gw, {}, { accessLogSink: (line) => void logLines.push(line) });
  });
  afterAll(async () => {
    await gw.close();
    await fake.close();
  });

  test('the table has at least 30 cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(30);
  });

  test.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const before = fake.received.length;
    let res: RawResponse;
    if (c.raw) res = await c.raw(gw.trafficPort);
    else {
      const headers = new Headers();
      for (const [k, v] of Object.entries({ ...json, ...c.headers })) {
        if (v === '') continue;
        for (const x of Array.isArray(v) ? v : [v]) headers.append(k, x);
      }
      const r = await fetch(`${baseURL(gw)}${c.path ?? '/v1/messages'}`, {
        method: c.method ?? 'POST',
        headers,
        body: c.method === 'GET' ? undefined : c.body,
      });
      res = { status: r.status, headers: Object.fromEntries(r.headers), body: await r.text() };
    }
    expect(res.status).toBe(c.status);
    statuses.push(res.status);
    expect(res.headers['request-id']).toMatch(/^req_[0-9A-Za-z]{24}$/);
    const body = JSON.parse(res.body);
    expect(body).toEqual({ type: 'error', error: { type: c.type, message: expect.any(String) }, request_id: res.headers['request-id'] });
    if (c.says) expect(body.error.message).toContain(c.says);
    expect(fake.received.length).toBe(before); // nothing bad reaches the upstream
  });

  test('every refusal is counted in metrics and has an access-log line, with its status', async () => {
    const scrape = parseProm(await (await fetch(`http://127.0.0.1:${gw.adminPort}/metrics`)).text());
    const byCode = new Map<number, number>();
    for (const st of statuses) byCode.set(st, (byCode.get(st) ?? 0) + 1);
    for (const [code, n] of byCode) expect([code, scrape.sum('switchyard_requests_total', { code: String(code) })]).toEqual([code, n]);
    const logged = logLines.map((l) => JSON.parse(l));
    for (const [code, n] of byCode) expect([code, logged.filter((l) => l.status === code).length]).toEqual([code, n]);
    expect(logLines.join('\n')).not.toContain(CLIENT_KEY);
  });

  test('odd but valid unicode is accepted and forwarded intact', async () => {
    const text = 'lone \ud800 surrogate, nul \u0000, RTL \u202e, emoji 🧪, BOM \ufeff';
    const r = await fetch(`${baseURL(gw)}/v1/messages`, { method: 'POST', headers: json, body: msg(text) });
    expect(r.status).toBe(200);
    expect(fake.last().body.messages[0].content).toBe(text);
  });

  test('after all of that the gateway still serves', async () => {
    const r = await fetch(`${baseURL(gw)}/v1/messages`, { method: 'POST', headers: json, body: JSON.stringify(good) });
    expect(r.status).toBe(200);
    expect(((await r.json()) as any).type).toBe('message');
    expect(gw.inflightRequests).toBe(0);
  });
});

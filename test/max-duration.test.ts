import type { ServerResponse } from 'node:http';
import type { Gateway } from '../gateway/src/gateway';
import { CLIENT_KEY, apiKey, baseURL, modelRoute, secret, snapshotOf, startGateway } from './helpers/gateway';
import { recordRequest, startServer, type RecordedRequest, type TestServer } from './helpers/http-server';
import { parseSse } from './helpers/sse-client';

/**
 * Issue 17 item 5 (upstream part): a target's `maxDurationSeconds` bounds the whole exchange. An
 * upstream that keeps a connection alive with a byte now and then (so neither the headers timeout
 * nor the per-chunk idle timeout fires) is cut: a stream ends with a `timeout_error` event, a JSON
 * request fails as a timeout (retried when `retry.on` has `timeout`, since nothing was sent yet).
 */
type Provider = 'anthropic' | 'openai' | 'gemini';

const START: Record<Provider, string> = {
  anthropic:
    'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_t","type":"message","role":"assistant","model":"m","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":5,"output_tokens":1}}}\n\n',
  openai:
    'data: {"id":"chatcmpl-t","object":"chat.completion.chunk","created":1700000000,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"},"finish_reason":null}]}\n\n',
  gemini: 'data: {"candidates":[{"content":{"role":"model","parts":[{"text":"Hi"}]},"index":0}],"modelVersion":"m","responseId":"r1"}\r\n\r\n',
};

/** A complete non-streamed answer saying "ok", in each provider's format. */
const ANSWER: Record<Provider, string> = {
  anthropic: JSON.stringify({
    id: 'msg_ok',
    type: 'message',
    role: 'assistant',
    model: 'm',
    content: [{ type: 'text', text: 'ok' }],
    stop_reason: 'end_turn',
    stop_sequence: null,
    usage: { input_tokens: 1, output_tokens: 1 },
  }),
  openai: JSON.stringify({
    id: 'chatcmpl-ok',
    object: 'chat.completion',
    created: 1700000000,
    model: 'm',
    choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
  }),
  gemini: JSON.stringify({
    candidates: [{ content: { role: 'model', parts: [{ text: 'ok' }] }, finishReason: 'STOP', index: 0 }],
    usageMetadata: { promptTokenCount: 1, candidatesTokenCount: 1, totalTokenCount: 2 },
    modelVersion: 'm',
    responseId: 'r2',
  }),
};

/** Sends `piece` every 100 ms until the reader hangs up. */
function trickle(res: ServerResponse, piece: string): void {
  const t = setInterval(() => res.write(piece), 100);
  res.on('close', () => clearInterval(t));
}

interface Trickler extends TestServer {
  received: RecordedRequest[];
  /** How the n-th request (0-based) is answered: trickled forever, or at once. */
  plan: (n: number) => 'trickle' | 'answer';
}

async function startTrickler(provider: Provider): Promise<Trickler> {
  const received: RecordedRequest[] = [];
  const me = { received, plan: () => 'trickle' } as unknown as Trickler;
  const srv = await startServer(async (req, res) => {
    const rec = await recordRequest(req, res);
    const n = received.push(rec) - 1;
    const streaming = rec.body?.stream === true || rec.path.includes(':streamGenerateContent');
    if (me.plan(n) === 'answer') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.end(ANSWER[provider]);
    }
    if (streaming) {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(START[provider]);
      // SSE comments: bytes on the wire, nothing for the gateway to forward.
      return trickle(res, ': still thinking\n\n');
    }
    // JSON padded with whitespace, one byte at a time, never finished.
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"type":"message",');
    trickle(res, ' ');
  });
  return Object.assign(me, srv);
}

const headers = { 'content-type': 'application/json', 'x-api-key': CLIENT_KEY, 'anthropic-version': '2023-06-01' };
const ask = (stream: boolean) => JSON.stringify({ model: 'claude-test', max_tokens: 10, stream, messages: [{ role: 'user', content: 'Hi' }] });

describe.each<[Provider, (url: string) => string]>([
  ['anthropic', (url) => url],
  ['openai', (url) => `${url}/v1`],
  ['gemini', (url) => url],
])('maxDurationSeconds with a trickling %s upstream', (provider, upstreamBase) => {
  let up: Trickler;
  let gw: Gateway;

  beforeAll(async () => {
    up = await startTrickler(provider);
    const target = { provider, model: 'm', baseURL: upstreamBase(up.url), credentialsRef: { name: 'upstream' }, maxDurationSeconds: 3, idleTimeoutSeconds: 30 }; // 3 s, not 1: the retried answer must finish inside it on a loaded machine
    gw = await startGateway(
      snapshotOf([
        secret('upstream', { apiKey: 'sk-upstream' }),
        secret('client', { key: CLIENT_KEY }),
        modelRoute('main', { model: 'claude-test', targets: [target], retry: { attempts: 2, on: ['timeout'] } }),
        apiKey('team', { secretRef: { name: 'client' } }),
      ]),
    );
  });
  afterAll(async () => {
    await gw.close();
    await up.close();
  });

  test('a stream in flight past the deadline ends with a timeout_error event, and the upstream connection is closed', async () => {
    up.plan = () => 'trickle';
    const before = up.received.length;
    const started = performance.now();
    const res = await fetch(`${baseURL(gw)}/v1/messages`, { method: 'POST', headers, body: ask(true) });
    expect(res.status).toBe(200);
    const events = parseSse(await res.text());
    // Generous bounds: cut after about a second, well before the 30 s idle timeout.
    expect(performance.now() - started).toBeGreaterThan(2900);
    expect(performance.now() - started).toBeLessThan(15_000);
    expect(events[0].event).toBe('message_start');
    const last = events[events.length - 1];
    expect(last.event).toBe('error');
    expect(last.data).toMatchObject({ error: { type: 'timeout_error' }, request_id: res.headers.get('request-id') });
    expect(last.data.error.message).toContain('maxDurationSeconds');
    // Committed to the client: no second attempt.
    expect(up.received.length - before).toBe(1);
    expect(await up.received[up.received.length - 1].closed).toEqual({ aborted: true });
  }, 30_000);

  test('a JSON reply past the deadline is a timeout, retried under retry.on timeout', async () => {
    const before = up.received.length;
    up.plan = (n) => (n === before ? 'trickle' : 'answer');
    const res = await fetch(`${baseURL(gw)}/v1/messages`, { method: 'POST', headers, body: ask(false) });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ type: 'message', content: [{ type: 'text', text: 'ok' }] });
    expect(up.received.length - before).toBe(2);
    expect(await up.received[before].closed).toEqual({ aborted: true });
  }, 30_000);

  test('a JSON reply past the deadline with no retry left is 504 timeout_error', async () => {
    const before = up.received.length;
    up.plan = () => 'trickle';
    const res = await fetch(`${baseURL(gw)}/v1/messages`, { method: 'POST', headers, body: ask(false) });
    expect(res.status).toBe(504);
    const body: any = await res.json();
    expect(body).toMatchObject({ type: 'error', error: { type: 'timeout_error' }, request_id: res.headers.get('request-id') });
    expect(body.error.message).toContain('maxDurationSeconds');
    expect(up.received.length - before).toBe(2);
  }, 30_000);
});

import { createHmac } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { envelope } from '../gateway/src/core/errors';
import { httpAdapter } from '../gateway/src/providers/adapter';
import { UpstreamPools } from '../gateway/src/providers/http';
import { parseJson } from '../gateway/src/providers/json';
import { TranslationError } from '../gateway/src/providers/translation-error';
import type { Provider, StreamDecoder, StreamTranslator } from '../gateway/src/providers/translator';
import type { StreamEvent, UpstreamCall, UpstreamReply } from '../gateway/src/core/upstream';
import { compiledTarget } from './helpers/target';
import { readRequestBody, startServer, type TestServer } from './helpers/http-server';

/**
 * The generic adapter runs a provider that differs from the built-in three in each way the next
 * providers will (Bedrock, Vertex): credentials fetched asynchronously (an OAuth token from a
 * token endpoint), a signer that sees the final URL, headers and body (SigV4 signs the body),
 * and a binary, length-prefixed stream framing instead of SSE. Real HTTP on loopback both ways.
 */
const SIGNING_KEY = 'signing-key-for-tests';
const FRAMES = 'application/x-length-prefixed';

function frame(obj: unknown): Buffer {
  const json = Buffer.from(JSON.stringify(obj));
  const len = Buffer.alloc(4);
  len.writeUInt32BE(json.length);
  return Buffer.concat([len, json]);
}

const signature = (url: string, authorization: string, body: Buffer | string) =>
  createHmac('sha256', SIGNING_KEY).update(`${url}\n${authorization}\n`).update(body).digest('hex');

/** 4-byte big-endian length, then that many bytes of JSON. */
const lengthPrefixed: StreamDecoder<any> = (maxEventBytes) => {
  let buf = Buffer.alloc(0);
  return {
    push(chunk) {
      buf = Buffer.concat([buf, chunk]);
      const frames: unknown[] = [];
      while (buf.length >= 4) {
        const len = buf.readUInt32BE(0);
        if (len > maxEventBytes) throw new Error(`frame of ${len} bytes`);
        if (buf.length < 4 + len) break;
        frames.push(parseJson(buf.subarray(4, 4 + len)));
        buf = buf.subarray(4 + len);
      }
      return frames;
    },
    end: () => [],
  };
};

class FrameTranslator implements StreamTranslator<any> {
  finished = false;
  private started = false;
  frame(f: any): StreamEvent[] {
    const out: StreamEvent[] = [];
    if (f?.error) return this.fail(String(f.error));
    if (!this.started) {
      this.started = true;
      out.push({
        event: 'message_start',
        data: {
          type: 'message_start',
          message: {
            id: 'msg_1',
            type: 'message',
            role: 'assistant',
            model: 'm',
            content: [],
            stop_reason: null,
            stop_sequence: null,
            usage: { input_tokens: 1, output_tokens: 0 },
          },
        },
      });
      out.push({ event: 'content_block_start', data: { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } } });
    }
    if (typeof f?.text === 'string')
      out.push({ event: 'content_block_delta', data: { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: f.text } } });
    if (f?.done) {
      this.finished = true;
      out.push(
        { event: 'content_block_stop', data: { type: 'content_block_stop', index: 0 } },
        { event: 'message_delta', data: { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 2 } } },
        { event: 'message_stop', data: { type: 'message_stop' } },
      );
    }
    return out;
  }
  end(): StreamEvent[] {
    return this.finished ? [] : this.fail('the stream ended before its last frame');
  }
  private fail(message: string): StreamEvent[] {
    this.finished = true;
    return [{ event: 'error', data: envelope('api_error', message, null) }];
  }
}

let upstream: TestServer;
let tokenServer: TestServer;
let tokenFetches = 0;
let upstreamCalls = 0;
let script: (req: IncomingMessage, body: any, res: ServerResponse) => void;
const seen: Array<{ url: string; headers: IncomingMessage['headers']; signatureOk: boolean }> = [];

const framesProvider: Provider<{ stream: boolean }, any> = {
  request(call) {
    if (call.body.messages?.length === 0) throw new TranslationError('messages: nothing to send');
    const stream = call.body.stream === true;
    return {
      url: `${call.target.baseURL}/model/${call.target.model}/${stream ? 'stream' : 'invoke'}`,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: call.body.messages }),
      state: { stream },
    };
  },
  async auth(_call, headers) {
    tokenFetches++;
    const res = await fetch(`${tokenServer.url}/token`, { method: 'POST' });
    headers.authorization = `Bearer ${((await res.json()) as any).access_token}`;
  },
  sign(req) {
    req.headers['x-signature'] = signature(new URL(req.url).pathname, req.headers.authorization, req.body);
  },
  responseHeaders: (h): Record<string, string> => (h['x-upstream-id'] ? { 'upstream-request-id': h['x-upstream-id'] } : {}),
  response: (body) =>
    body.text
      ? {
          status: 200,
          body: {
            id: 'msg_1',
            type: 'message',
            role: 'assistant',
            model: 'm',
            content: [{ type: 'text', text: body.text }],
            stop_reason: 'end_turn',
            stop_sequence: null,
            usage: { input_tokens: 1, output_tokens: 1 },
          },
        }
      : { status: 502, body: envelope('api_error', 'no text', null) },
  errorReply: (status, _h, raw) => ({
    status: status === 503 ? 529 : status,
    headers: {},
    body: envelope(status === 503 ? 'overloaded_error' : 'api_error', `upstream said ${raw.toString('utf8').slice(0, 50)}`, null),
  }),
  streamContentType: FRAMES,
  decoder: lengthPrefixed,
  streamTranslator: () => new FrameTranslator(),
};

const pools = new UpstreamPools();
const adapter = httpAdapter(pools, framesProvider);

beforeAll(async () => {
  tokenServer = await startServer((_req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ access_token: `tok-${tokenFetches}`, expires_in: 3600 }));
  });
  upstream = await startServer(async (req, res) => {
    upstreamCalls++;
    const raw = await readRequestBody(req);
    const auth = String(req.headers.authorization ?? '');
    seen.push({ url: req.url!, headers: req.headers, signatureOk: req.headers['x-signature'] === signature(req.url!, auth, raw) });
    script(req, JSON.parse(raw.toString('utf8')), res);
  });
});

afterAll(async () => {
  await pools.close();
  await upstream.close();
  await tokenServer.close();
});

beforeEach(() => {
  seen.length = 0;
  upstreamCalls = 0;
});

function call(body: Record<string, any>): UpstreamCall {
  const target = compiledTarget(upstream.url, { provider: 'openai', model: 'frames-1', headers: { 'x-team': 'blue' } });
  return {
    endpoint: 'messages',
    body,
    raw: Buffer.from(JSON.stringify(body)),
    search: '',
    clientHeaders: {},
    target,
    signal: new AbortController().signal,
    requestId: 'req_1',
    extraHeaders: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
  };
}

async function events(reply: UpstreamReply): Promise<StreamEvent[]> {
  if (reply.kind !== 'sse') throw new Error(`expected a stream, got ${reply.status} ${JSON.stringify(reply.body)}`);
  const out: StreamEvent[] = [];
  for await (const batch of reply.events) out.push(...batch);
  return out;
}

const messages = [{ role: 'user', content: 'hi' }];

describe('generic HTTP adapter with a provider that fetches a token, signs, and frames its stream in binary', () => {
  test('a streamed answer: the token fetched, the signature over the final URL, headers and body, frames split across writes', async () => {
    script = (_req, _body, res) => {
      res.writeHead(200, { 'content-type': FRAMES, 'x-upstream-id': 'up-7' });
      const bytes = Buffer.concat([frame({ text: 'Hel' }), frame({ text: 'lo' }), frame({ done: true })]);
      // Cut mid-frame, so the decoder must carry a partial frame over to the next chunk.
      res.write(bytes.subarray(0, 9));
      setTimeout(() => res.end(bytes.subarray(9)), 20);
    };
    const reply = await adapter.send(call({ model: 'x', messages, stream: true, max_tokens: 10 }));
    expect(reply.headers).toEqual({ 'upstream-request-id': 'up-7' });
    const evs = await events(reply);
    expect(evs.map((e) => e.event)).toEqual([
      'message_start',
      'content_block_start',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    expect(
      evs
        .filter((e) => e.event === 'content_block_delta')
        .map((e) => e.data.delta.text)
        .join(''),
    ).toBe('Hello');
    expect(seen).toHaveLength(1);
    expect(seen[0].url).toBe('/model/frames-1/stream');
    expect(seen[0].headers.authorization).toMatch(/^Bearer tok-\d+$/);
    expect(seen[0].headers['x-team']).toBe('blue');
    expect(seen[0].headers.traceparent).toBeDefined();
    expect(seen[0].signatureOk).toBe(true);
  });

  test('a binary stream cut before its last frame ends with an error event, never silently', async () => {
    script = (_req, _body, res) => {
      res.writeHead(200, { 'content-type': FRAMES });
      res.end(frame({ text: 'Hel' }));
    };
    const evs = await events(await adapter.send(call({ model: 'x', messages, stream: true, max_tokens: 10 })));
    expect(evs.at(-1)).toMatchObject({ event: 'error', data: { type: 'error', error: { type: 'api_error' } } });
  });

  test('a TranslationError is a 400 invalid_request_error, and nothing is sent upstream', async () => {
    const reply = await adapter.send(call({ model: 'x', messages: [], max_tokens: 10 }));
    expect(reply).toMatchObject({
      kind: 'json',
      status: 400,
      body: { type: 'error', error: { type: 'invalid_request_error', message: 'messages: nothing to send' } },
    });
    expect(upstreamCalls).toBe(0);
  });

  test('a JSON answer to a stream request reaches the client as the stream it asked for', async () => {
    script = (_req, _body, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ text: 'whole' }));
    };
    const evs = await events(await adapter.send(call({ model: 'x', messages, stream: true, max_tokens: 10 })));
    expect(evs[0].event).toBe('message_start');
    expect(evs.at(-1)!.event).toBe('message_stop');
    expect(evs.find((e) => e.event === 'content_block_delta')!.data.delta).toEqual({ type: 'text_delta', text: 'whole' });
  });

  test("a 2xx that is not JSON is a 502 api_error; an error status goes through the provider's errorReply", async () => {
    script = (_req, _body, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html>proxy page</html>');
    };
    const page = await adapter.send(call({ model: 'x', messages, max_tokens: 10 }));
    expect(page).toMatchObject({ kind: 'json', status: 502, body: { error: { type: 'api_error' } } });
    expect((page as any).body.error.message).toContain('text/html body that is not JSON');

    script = (_req, _body, res) => {
      res.writeHead(503, { 'content-type': 'text/plain' });
      res.end('busy');
    };
    expect(await adapter.send(call({ model: 'x', messages, max_tokens: 10 }))).toMatchObject({
      kind: 'json',
      status: 529,
      body: { error: { type: 'overloaded_error', message: 'upstream said busy' } },
    });
  });
});

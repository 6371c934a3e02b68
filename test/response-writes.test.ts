import type { Socket } from 'node:net';
import type { Gateway } from '../gateway/src/gateway';
import { CLIENT_KEY, baseURL, simpleConfig, snapshotOf, startGateway } from './helpers/gateway';
import { textMessage, textStream } from './helpers/fake-anthropic';
import { startServer, type TestServer } from './helpers/http-server';
import { parseSse } from './helpers/sse-client';

/**
 * Issue 15: every write to a client's socket is a syscall, which on the hot path costs more than
 * most of the gateway's own work. A response goes out in as few writes as the upstream allows:
 * a JSON reply in one, a stream the upstream sent in one piece in one (headers, events and the
 * end of the chunked body together) — and nothing is held back waiting for an upstream that is
 * slow to end after its message_stop.
 */
const headers = { 'content-type': 'application/json', 'x-api-key': CLIENT_KEY, 'anthropic-version': '2023-06-01' };
const ask = (stream: boolean) => JSON.stringify({ model: 'claude-test', max_tokens: 10, stream, messages: [{ role: 'user', content: 'Hi' }] });
const sse = (events: Array<[string, unknown]>) => events.map(([e, d]) => `event: ${e}\ndata: ${JSON.stringify(d)}\n\n`).join('');

/** Counts the writes (each one a write or writev syscall) the gateway makes on each client socket, by local port. */
function countWrites(gw: Gateway): Map<number, number> {
  const writes = new Map<number, number>();
  (gw as unknown as { traffic: import('node:http').Server }).traffic.on('connection', (socket: Socket) => {
    const port = socket.remotePort!;
    writes.set(port, 0);
    const s = socket as unknown as Record<'_write' | '_writev', (...a: unknown[]) => void>;
    for (const m of ['_write', '_writev'] as const) {
      const original = s[m];
      s[m] = function (this: unknown, ...a: unknown[]) {
        writes.set(port, writes.get(port)! + 1);
        return original.apply(this, a);
      };
    }
  });
  return writes;
}

/** One request on its own connection; resolves with the client's local port and the response text. */
async function post(gw: Gateway, stream: boolean): Promise<{ port: number; status: number; text: string }> {
  const { request } = await import('node:http');
  return new Promise((resolve, reject) => {
    const req = request(`${baseURL(gw)}/v1/messages`, { method: 'POST', headers: { ...headers, connection: 'close' }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ port: req.socket!.localPort!, status: res.statusCode!, text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(ask(stream));
  });
}

describe('writes to the client per response', () => {
  let up: TestServer;
  let gw: Gateway;
  let writes: Map<number, number>;
  /** Set by a test: the upstream holds its stream open after message_stop until this resolves. */
  let holdEnd: Promise<void> | undefined;
  const streamEvents = textStream('claude-upstream-1', ['Hello', ' world']);

  beforeAll(async () => {
    up = await startServer(async (req, res) => {
      const body = JSON.parse(
        await new Promise<string>((r) => {
          let s = '';
          req.on('data', (c) => (s += c));
          req.on('end', () => r(s));
        }),
      );
      if (!body.stream) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(textMessage('claude-upstream-1', 'Hello')));
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      if (!holdEnd) return void res.end(sse(streamEvents));
      res.write(sse(streamEvents));
      await holdEnd;
      res.end();
    });
    gw = await startGateway(snapshotOf(simpleConfig(up.url)));
    writes = countWrites(gw);
  });

  afterAll(async () => {
    await gw.close();
    await up.close();
  });

  test('a JSON reply: headers and body in one write', async () => {
    const r = await post(gw, false);
    expect(r.status).toBe(200);
    expect(JSON.parse(r.text).content[0].text).toBe('Hello');
    expect(writes.get(r.port)).toBe(1);
  });

  test('a stream the upstream sent in one piece: headers, every event and the end of the body in one write', async () => {
    const r = await post(gw, true);
    expect(r.status).toBe(200);
    expect(parseSse(r.text).map((e) => e.event)).toEqual(streamEvents.map(([e]) => e));
    // Before: the headers alone, then the events, then the chunked body's terminator: three.
    expect(writes.get(r.port)).toBe(1);
  });

  test('an upstream slow to end after message_stop: the client still gets every event at once, the end when it comes', async () => {
    let release!: () => void;
    holdEnd = new Promise((r) => (release = r));
    try {
      const { request } = await import('node:http');
      const received = await new Promise<string>((resolve, reject) => {
        const req = request(`${baseURL(gw)}/v1/messages`, { method: 'POST', headers: { ...headers, connection: 'close' }, agent: false }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => {
            text += c;
            // Held back until the upstream ends, message_stop would never arrive: this test would time out.
            if (text.includes('event: message_stop')) resolve(text);
          });
        });
        req.on('error', reject);
        req.end(ask(true));
      });
      expect(parseSse(received).map((e) => e.event)).toContain('message_delta');
    } finally {
      release();
      holdEnd = undefined;
    }
  });
});

import { request as httpRequest } from 'node:http';
import type { Socket } from 'node:net';
import type { Gateway } from '../gateway/src/gateway';
import { CLIENT_KEY, postMessage, simpleConfig, snapshotOf, startGateway } from './helpers/gateway';
import { readRequestBody, startServer, waitFor, type TestServer } from './helpers/http-server';

/**
 * Issue 17 item 6: many clients abandoning their streams must not leave the gateway holding a
 * fresh, never-used upstream connection per abandoned stream. (undici reconnects for the aborted
 * request before dropping it: see gateway/src/providers/connector.ts.)
 */
const WAVE = 200;
const START =
  'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":1}}}\n\n';
const PING = 'event: ping\ndata: {"type":"ping"}\n\n';
const MESSAGE = JSON.stringify({
  id: 'msg_ok',
  type: 'message',
  role: 'assistant',
  model: 'm',
  content: [{ type: 'text', text: 'ok' }],
  stop_reason: 'end_turn',
  stop_sequence: null,
  usage: { input_tokens: 1, output_tokens: 1 },
});

describe('upstream connections when clients abort streams', () => {
  let up: TestServer;
  let gw: Gateway;
  /** Upstream connections open now, and those that ever carried a request. */
  const open = new Set<Socket>();
  const used = new Set<Socket>();
  let opened = 0;
  let headersDelayMs = 0;

  beforeAll(async () => {
    up = await startServer(async (req, res) => {
      used.add(req.socket);
      const body = JSON.parse((await readRequestBody(req)).toString());
      if (!body.stream) {
        // A Message, after an optional wait before the headers.
        setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end(MESSAGE), headersDelayMs);
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(START);
      // Then a ping every 50 ms, for as long as the gateway listens.
      const t = setInterval(() => res.write(PING), 50);
      res.on('close', () => clearInterval(t));
    });
    // Like many real upstreams: idle connections are kept for a minute.
    up.server.keepAliveTimeout = 65_000;
    up.server.on('connection', (s: Socket) => {
      opened++;
      open.add(s);
      s.on('close', () => open.delete(s));
    });
    gw = await startGateway(snapshotOf(simpleConfig(up.url)));
  });
  afterAll(async () => {
    await gw.close();
    await up.close();
  });

  /** Opens a stream, waits for its first bytes, then hangs up a little later. */
  const abortedStream = () =>
    new Promise<void>((resolve, reject) => {
      const req = httpRequest(`http://127.0.0.1:${gw.trafficPort}/v1/messages`, {
        method: 'POST',
        agent: false,
        headers: { 'content-type': 'application/json', 'x-api-key': CLIENT_KEY, 'anthropic-version': '2023-06-01' },
      });
      req.on('response', (res) => {
        res.once('data', () =>
          setTimeout(
            () => {
              req.destroy();
              resolve();
            },
            20 + Math.random() * 100,
          ),
        );
      });
      req.on('error', (err) => (req.destroyed ? resolve() : reject(err)));
      req.end(JSON.stringify({ model: 'claude-test', max_tokens: 10, stream: true, messages: [{ role: 'user', content: 'Hi' }] }));
    });

  const unused = () => [...open].filter((s) => !used.has(s)).length;

  test('no never-used upstream connection outlives a wave of aborted streams', async () => {
    await Promise.all(Array.from({ length: WAVE }, abortedStream));
    // Before the fix, undici had reconnected for many of the aborted requests, and those sockets
    // stayed until the upstream's 65 s keep-alive ran out.
    await waitFor(() => unused() === 0, 10_000, `no idle never-used upstream connections (still ${unused()})`);
    expect(opened).toBeLessThan(WAVE * 3);
  }, 60_000);

  test('a connection waiting longer than the reaping delay for its reply is left alone', async () => {
    headersDelayMs = 2500;
    try {
      const res = await postMessage(`http://127.0.0.1:${gw.trafficPort}`);
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ id: 'msg_ok' });
    } finally {
      headersDelayMs = 0;
    }
  }, 30_000);
});

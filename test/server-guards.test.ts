import { connect } from 'node:net';
import type { Gateway } from '../gateway/src/gateway';
import { installTelemetry } from '../gateway/src/telemetry';
import { startFakeAnthropic, textStream, type FakeAnthropic } from './helpers/fake-anthropic';
import { CLIENT_KEY, simpleConfig, snapshotOf, startGateway } from './helpers/gateway';
import { sleep, waitFor } from './helpers/http-server';
import { parseProm } from './helpers/prom';
import { rawRequest } from './helpers/raw-http';

/**
 * The edges of the HTTP server, each fault injected over a real socket: what Node's parser
 * refuses (garbage, huge headers, headers that never finish), bodies that arrive too slowly, and
 * bodies over the size limit that a client is still sending.
 */
const MAX_BODY = 64 * 1024;
const good = JSON.stringify({ model: 'claude-test', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] });
const head = (length: number | 'chunked', extra = '') =>
  `POST /v1/messages HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nx-api-key: ${CLIENT_KEY}\r\n` +
  (length === 'chunked' ? 'transfer-encoding: chunked\r\n' : `content-length: ${length}\r\n`) +
  extra +
  '\r\n';

interface Parsed {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Splits everything a connection received into its HTTP responses (content-length or chunked). */
function parseResponses(text: string): { responses: Parsed[]; rest: string } {
  const responses: Parsed[] = [];
  let s = text;
  for (;;) {
    const end = s.indexOf('\r\n\r\n');
    if (end < 0) return { responses, rest: s };
    const lines = s.slice(0, end).split('\r\n');
    const headers: Record<string, string> = {};
    for (const l of lines.slice(1)) headers[l.slice(0, l.indexOf(':')).toLowerCase()] = l.slice(l.indexOf(':') + 1).trim();
    let rest = s.slice(end + 4);
    let body = '';
    if (headers['transfer-encoding'] === 'chunked') {
      for (;;) {
        const i = rest.indexOf('\r\n');
        if (i < 0) return { responses, rest: s };
        const size = parseInt(rest.slice(0, i), 16);
        if (!Number.isFinite(size)) throw new Error(`bad chunk size line: ${JSON.stringify(rest.slice(0, 40))}`);
        if (rest.slice(i + 2 + size, i + 4 + size) !== '\r\n')
          throw new Error(`chunk not terminated by CRLF: ${JSON.stringify(rest.slice(i + 2 + size, i + 40 + size))}`);
        body += rest.slice(i + 2, i + 2 + size);
        rest = rest.slice(i + 4 + size);
        if (size === 0) break;
      }
    } else {
      const n = Number(headers['content-length'] ?? 0);
      body = rest.slice(0, n);
      rest = rest.slice(n);
    }
    responses.push({ status: Number(lines[0].split(' ')[1]), headers, body });
    s = rest;
  }
}

/** Writes `data` on a fresh connection and returns everything received until the server closes it. */
function exchange(port: number, data: string, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`connection not closed within ${timeoutMs} ms; got ${Buffer.concat(chunks).toString().slice(0, 300)}`));
    }, timeoutMs);
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
    socket.on('connect', () => socket.write(data));
  });
}

describe('HTTP server guards', () => {
  let fake: FakeAnthropic;
  let gw: Gateway;
  const lines: Array<Record<string, any>> = [];

  beforeAll(async () => {
    fake = await startFakeAnthropic();
    gw = await startGateway(snapshotOf(simpleConfig(fake.url)), {
      options: { maxBodyBytes: MAX_BODY, bodyIdleTimeoutMs: 3000, bodyTimeoutMs: 1000, headersTimeoutMs: 600 },
    });
    installTelemetry(gw, {}, { accessLogSink: (l) => void lines.push(JSON.parse(l)) });
  });
  afterAll(async () => {
    await gw.close();
    await fake.close();
  });

  const counted = async (code: number) =>
    parseProm(await (await fetch(`http://127.0.0.1:${gw.adminPort}/metrics`)).text()).sum('switchyard_requests_total', { code: String(code) });

  test('garbage after pipelined requests: the stream in flight and the queued response arrive intact, then a 400, then the close', async () => {
    fake.queue.push({ kind: 'stream', events: textStream('claude-upstream-1', ['one', 'two', 'three', 'four']), delayMs: 80 });
    const streamed = JSON.stringify({ ...JSON.parse(good), stream: true });
    const text = await exchange(gw.trafficPort, head(Buffer.byteLength(streamed)) + streamed + head(good.length) + good + 'THIS IS NOT HTTP\r\n\r\n');
    const { responses, rest } = parseResponses(text);
    expect(rest).toBe('');
    expect(responses.map((r) => r.status)).toEqual([200, 200, 400]);
    const [stream, second, bad] = responses;
    expect(stream.headers['content-type']).toContain('text/event-stream');
    expect(stream.body).toContain('event: message_stop');
    expect(stream.body).not.toContain('HTTP/1.1');
    expect(JSON.parse(second.body).type).toBe('message');
    expect(bad.headers.connection).toBe('close');
    expect(JSON.parse(bad.body)).toEqual({
      type: 'error',
      error: { type: 'invalid_request_error', message: expect.stringContaining('malformed HTTP') },
      request_id: bad.headers['request-id'],
    });
    expect(bad.headers['request-id']).toMatch(/^req_/);
  });

  test('headers over the size limit get 431 in the envelope, counted and logged once', async () => {
    const before = await counted(431);
    const res = await rawRequest(gw.trafficPort, `GET /v1/models HTTP/1.1\r\nhost: x\r\nx-pad: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(res.status).toBe(431);
    expect(res.headers.connection).toBe('close');
    expect(JSON.parse(res.body)).toEqual({
      type: 'error',
      error: { type: 'invalid_request_error', message: expect.stringContaining('too large') },
      request_id: res.headers['request-id'],
    });
    expect((await counted(431)) - (before || 0)).toBe(1);
    expect(lines.filter((l) => l.request_id === res.headers['request-id'])).toEqual([
      expect.objectContaining({ status: 431, error_type: 'invalid_request_error' }),
    ]);
  });

  test('headers that never finish (slowloris) get 408 after headersTimeout, and one log line per connection', async () => {
    const parts = [{ data: 'POST /v1/messages HTTP/1.1\r\nhost: x\r\n' }, ...Array.from({ length: 60 }, (_, i) => ({ data: `x-h${i}: y\r\n`, delayMs: 100 }))];
    const res = await rawRequest(gw.trafficPort, parts, 5000);
    expect(res.status).toBe(408);
    expect(res.headers.connection).toBe('close');
    expect(JSON.parse(res.body)).toEqual({
      type: 'error',
      error: { type: 'invalid_request_error', message: expect.any(String) },
      request_id: res.headers['request-id'],
    });
    // Node re-raises the timeout for a socket still open at its next check (every 150 ms here).
    await sleep(1000);
    expect(lines.filter((l) => l.status === 408 && l.error_type === 'invalid_request_error' && l.path === null)).toHaveLength(1);
  });

  test('a body sent at a trickle (slow-POST) is cut at the total body deadline with 408, though no single pause is long', async () => {
    const before = await counted(408);
    const body = good.padEnd(200, ' ');
    const parts = [{ data: head(body.length) }, ...[...body].map((c) => ({ data: c, delayMs: 100 }))];
    const res = await rawRequest(gw.trafficPort, parts, 8000);
    expect(res.status).toBe(408);
    expect(res.headers['request-id']).toMatch(/^req_/);
    expect(JSON.parse(res.body)).toEqual({
      type: 'error',
      error: { type: 'invalid_request_error', message: 'request body not received within 1s' },
      request_id: res.headers['request-id'],
    });
    await waitFor(async () => (await counted(408)) - (before || 0) >= 1, 5000, '408 counted');
    expect(fake.received.filter((r) => r.raw.length >= 200)).toHaveLength(0);
  });

  test('a body still trickling in after an early refusal (401) is not read for ever: the body deadline closes the connection', async () => {
    const socket = connect(gw.trafficPort, '127.0.0.1');
    let got = '';
    socket.on('data', (d) => (got += d));
    socket.on('error', () => undefined);
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    await new Promise((r) => socket.on('connect', r));
    socket.write(`POST /v1/messages HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nx-api-key: sk-wrong\r\ncontent-length: 1000\r\n\r\n{`);
    let sent = 1;
    const trickle = setInterval(() => {
      if (!socket.destroyed && sent++ < 1000) socket.write(' ');
    }, 100);
    try {
      await waitFor(() => got.includes('authentication_error'), 5000, 'the 401');
      // 1000 bytes at 10 a second would take 100 s; the deadline (1 s here) ends it long before.
      await Promise.race([closed, sleep(8000).then(() => Promise.reject(new Error('connection still open 8 s after the 401')))]);
    } finally {
      clearInterval(trickle);
      socket.destroy();
    }
  });

  /**
   * A client that sends its whole body before it reads (as blocking clients do: curl, requests,
   * httpx): 8 KiB pieces, each write awaited. A server that closes while it is still sending
   * makes a write fail (EPIPE/ECONNRESET), and such a client reports that instead of the status.
   */
  const sendThenRead = (total: number, chunked: boolean) =>
    new Promise<{ status?: number; type?: string; writeError?: string }>((resolve, reject) => {
      const socket = connect(gw.trafficPort, '127.0.0.1');
      const received: Buffer[] = [];
      socket.on('data', (c) => received.push(c));
      socket.on('error', () => undefined);
      const write = (data: string | Buffer) => new Promise<void>((ok, fail) => socket.write(data, (err) => (err ? fail(err) : ok())));
      socket.on('connect', async () => {
        try {
          await write(head(chunked ? 'chunked' : total));
          const piece = Buffer.alloc(8192, 'x');
          for (let sent = 0; sent < total; sent += piece.length) {
            const p = piece.subarray(0, Math.min(piece.length, total - sent));
            await write(chunked ? Buffer.concat([Buffer.from(`${p.length.toString(16)}\r\n`), p, Buffer.from('\r\n')]) : p);
            await sleep(5);
          }
          if (chunked) await write('0\r\n\r\n');
        } catch (err) {
          socket.destroy();
          return resolve({ writeError: (err as NodeJS.ErrnoException).code });
        }
        await waitFor(() => received.length > 0 && Buffer.concat(received).includes('}'), 5000, 'a response').catch(reject);
        socket.destroy();
        const { responses } = parseResponses(Buffer.concat(received).toString());
        resolve({ status: responses[0]?.status, type: responses[0] && JSON.parse(responses[0].body).error?.type });
      });
    });

  test.each([
    ['content-length', false],
    ['chunked', true],
  ])('a client still sending an over-limit body (%s) receives the 413, not a connection error', async (_name, chunked) => {
    expect(await sendThenRead(MAX_BODY * 3, chunked)).toEqual({ status: 413, type: 'request_too_large' });
  });

  test('a declared length far beyond what is worth reading is refused at once', async () => {
    const res = await rawRequest(gw.trafficPort, head(1024 * 1024 * 1024) + '{');
    expect(res.status).toBe(413);
    expect(JSON.parse(res.body).error.type).toBe('request_too_large');
  });

  test('after all of that the gateway still serves', async () => {
    const r = await fetch(`http://127.0.0.1:${gw.trafficPort}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': CLIENT_KEY },
      body: good,
    });
    expect(r.status).toBe(200);
    expect(gw.inflightRequests).toBe(0);
  });
});

import { connect, type Socket } from 'node:net';
import type { ServerResponse } from 'node:http';
import type { Gateway } from '../gateway/src/gateway';
import { installTelemetry } from '../gateway/src/telemetry';
import { CLIENT_KEY, adminURL, baseURL, simpleConfig, snapshotOf, startGateway } from './helpers/gateway';
import { textMessage } from './helpers/fake-anthropic';
import { recordRequest, startServer, waitFor, type TestServer } from './helpers/http-server';
import { scrape } from './helpers/prom';
import { drainedOrClosed } from './helpers/flood-upstream';

/**
 * Issue 17: a client that stops reading must not hold a response (its upstream, its socket and
 * the bytes queued for it) for ever. Past --stream-stall-seconds without being able to write, the
 * gateway aborts the upstream, closes the client's socket and records a client-side stall.
 */
const PIECE = 'x'.repeat(256 * 1024);
const STREAM_TOTAL = 512 * 1024 * 1024;

interface Reply {
  written: number;
  closed: Promise<{ aborted: boolean }>;
}

/** Streams Anthropic text deltas of 256 KiB each, honouring backpressure, until 512 MiB or the reader hangs up. */
async function streamLots(res: ServerResponse, reply: Reply): Promise<void> {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  const ev = (name: string, data: unknown) => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
  res.write(
    ev('message_start', {
      type: 'message_start',
      message: {
        id: 'msg_1',
        type: 'message',
        role: 'assistant',
        model: 'claude-upstream-1',
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { input_tokens: 5, output_tokens: 1 },
      },
    }) + ev('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
  );
  const delta = ev('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: PIECE } });
  while (reply.written < STREAM_TOTAL && !res.destroyed) {
    reply.written += delta.length;
    if (!res.write(delta)) await drainedOrClosed(res);
  }
  if (!res.destroyed) res.end(ev('content_block_stop', { type: 'content_block_stop', index: 0 }) + ev('message_stop', { type: 'message_stop' }));
}

/** A client that sends its request and then never reads a byte of the answer. */
function nonReadingClient(port: number, stream: boolean): Socket {
  const body = JSON.stringify({ model: 'claude-test', max_tokens: 10, stream, messages: [{ role: 'user', content: 'Hi' }] });
  const socket = connect(port, '127.0.0.1');
  socket.pause();
  socket.on('error', () => undefined);
  socket.write(
    `POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\nx-api-key: ${CLIENT_KEY}\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
  return socket;
}

describe('write-stall deadline', () => {
  let up: TestServer;
  let gw: Gateway;
  const replies: Reply[] = [];
  const lines: string[] = [];
  let bigJson = '';

  beforeAll(async () => {
    // 24 MiB: more than loopback's socket buffers on both ends can hold, under the 32 MiB reply cap.
    bigJson = JSON.stringify(textMessage('claude-upstream-1', 'y'.repeat(24 * 1024 * 1024)));
    up = await startServer(async (req, res) => {
      const rec = await recordRequest(req, res);
      const reply = { written: 0, closed: rec.closed };
      replies.push(reply);
      if (rec.body?.stream) return streamLots(res, reply);
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(bigJson)) });
      res.end(bigJson);
    });
  });
  afterAll(() => up.close());

  beforeEach(async () => {
    replies.length = 0;
    lines.length = 0;
    gw = await startGateway(snapshotOf(simpleConfig(up.url)), { options: { streamStallMs: 1000 } });
    installTelemetry(gw, {}, { accessLogSink: (l) => lines.push(l) });
  });
  afterEach(() => gw.close());

  test('a stream to a client that stopped reading is cut: the upstream connection is dropped and the access log and metrics say client_stalled', async () => {
    const client = nonReadingClient(gw.trafficPort, true);
    try {
      const reply = await waitFor(() => replies[0], 10_000, 'the upstream request');
      // Dropped, not drained: the upstream could not write its 512 MiB.
      await expect(reply.closed).resolves.toEqual({ aborted: true });
      expect(reply.written).toBeLessThan(STREAM_TOTAL);
      const line = await waitFor(() => lines.map((l) => JSON.parse(l))[0], 10_000, 'access log line');
      expect(line).toMatchObject({ status: 200, stream: true, error_type: 'client_stalled', client_aborted: false });
      const metrics = await scrape(adminURL(gw));
      expect(metrics.sum('switchyard_client_stalls_total')).toBe(1);
    } finally {
      client.destroy();
    }
  }, 60_000);

  test('with no stall limit, a stream to a client that is not reading holds the upstream back, and flows again once it reads', async () => {
    const patient = await startGateway(snapshotOf(simpleConfig(up.url)), { options: { streamStallMs: 0 } });
    const client = nonReadingClient(patient.trafficPort, true);
    try {
      const reply = await waitFor(() => replies[0], 10_000, 'the upstream request');
      // Held back: the upstream's writes stop once the socket buffers between it and the client are
      // full (some MiB on loopback), instead of the gateway reading on into memory.
      let last = -1;
      await waitFor(
        async () => {
          await new Promise((r) => setTimeout(r, 300));
          const still = reply.written > 0 && reply.written === last;
          last = reply.written;
          return still;
        },
        30_000,
        'the upstream to be held back',
      );
      const held = reply.written;
      expect(held).toBeLessThan(96 * 1024 * 1024);
      let received = 0;
      client.on('data', (d: Buffer) => (received += d.length));
      client.resume();
      await waitFor(() => received > held + 64 * 1024 * 1024, 30_000, 'the stream to flow again');
      expect(reply.written).toBeGreaterThan(held + 64 * 1024 * 1024);
    } finally {
      client.destroy();
      await patient.close();
    }
  }, 90_000);

  test('a large JSON reply to a client that stopped reading is cut the same way', async () => {
    const client = nonReadingClient(gw.trafficPort, false);
    try {
      const line = await waitFor(() => lines.map((l) => JSON.parse(l))[0], 20_000, 'access log line');
      expect(line).toMatchObject({ status: 200, stream: false, error_type: 'client_stalled', client_aborted: false });
      const metrics = await scrape(adminURL(gw));
      expect(metrics.sum('switchyard_client_stalls_total')).toBe(1);
    } finally {
      client.destroy();
    }
  }, 60_000);

  test('a client that reads, however slowly, is left alone', async () => {
    const res = await fetch(`${baseURL(gw)}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': CLIENT_KEY },
      body: JSON.stringify({ model: 'claude-test', max_tokens: 10, messages: [{ role: 'user', content: 'Hi' }] }),
    });
    const reader = res.body!.getReader();
    let got = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      got += value.length;
      // Pauses shorter than the stall deadline between reads.
      if (got < 4 * 1024 * 1024) await new Promise((r) => setTimeout(r, 20));
    }
    expect(got).toBe(Buffer.byteLength(bigJson));
    const line = await waitFor(() => lines.map((l) => JSON.parse(l))[0], 10_000, 'access log line');
    expect(line).toMatchObject({ status: 200, error_type: null });
  }, 60_000);
});

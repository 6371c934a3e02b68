import { spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import type { Gateway } from '../gateway/src/gateway';
import { installTelemetry } from '../gateway/src/telemetry';
import { startFakeAnthropic, type FakeAnthropic } from './helpers/fake-anthropic';
import { CLIENT_KEY, apiKey, modelRoute, secret, simpleConfig, snapshotOf, startGateway } from './helpers/gateway';
import { assertBuilt, writeConfig } from './helpers/gateway-process';
import { sleep, startServer, waitFor, type TestServer } from './helpers/http-server';
import { CLI } from './helpers/process';

/** The access log says what happened to each attempt, even when the client left half-way. */
describe('access log accuracy', () => {
  let fake: FakeAnthropic;
  let stalling: TestServer;
  let gw: Gateway;
  const lines: Array<Record<string, any>> = [];
  let bodyStarted = 0;

  beforeAll(async () => {
    fake = await startFakeAnthropic();
    // An upstream that sends the status, headers and the first bytes of a JSON reply, then stalls.
    stalling = await startServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '500', 'request-id': 'req_stall' });
        res.write('{"id":"msg_1","type":"message",');
        bodyStarted++;
      });
    });
    const route = (name: string, model: string, baseURL: string, extra = {}) =>
      modelRoute(name, { model, targets: [{ provider: 'anthropic', model: 'up', baseURL, ...extra }], retry: { attempts: 1 } });
    gw = await startGateway(
      snapshotOf([
        secret('keys', { main: CLIENT_KEY }),
        route('idle', 'idle-model', fake.url, { idleTimeoutSeconds: 0.3 }),
        route('stall', 'stall-model', stalling.url),
        apiKey('main', { secretRef: { name: 'keys', key: 'main' } }),
      ]),
      { options: { pingIntervalMs: 0 } },
    );
    installTelemetry(gw, {}, { accessLogSink: (l) => void lines.push(JSON.parse(l)) });
  });
  afterAll(async () => {
    await gw.close();
    await stalling.close();
    await fake.close();
  });

  const post = (model: string, stream: boolean, signal?: AbortSignal) =>
    fetch(`http://127.0.0.1:${gw.trafficPort}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': CLIENT_KEY },
      body: JSON.stringify({ model, max_tokens: 8, stream, messages: [{ role: 'user', content: 'hi' }] }),
      signal,
    });

  test('an upstream that goes silent is an idle_timeout / timeout_error attempt, not an api_error', async () => {
    fake.queue.push({ kind: 'stream', events: [['ping', { type: 'ping' }]], hangAfter: 0 });
    const r = await post('idle-model', true);
    expect(r.status).toBe(504);
    const id = r.headers.get('request-id');
    const line = await waitFor(() => lines.find((l) => l.request_id === id), 5000, 'the access-log line');
    expect(line).toMatchObject({ status: 504, error_type: 'timeout_error' });
    expect(line.attempts).toEqual([expect.objectContaining({ outcome: 'failure', failure: 'idle_timeout', error_type: 'timeout_error' })]);
  });

  test('a client that leaves while the upstream body is arriving still gets its attempt logged', async () => {
    const before = lines.length;
    const started = bodyStarted;
    const ac = new AbortController();
    const pending = post('stall-model', false, ac.signal).catch((e) => e);
    await waitFor(() => bodyStarted > started, 5000, 'the upstream to start its body');
    ac.abort();
    await pending;
    const line = await waitFor(() => lines.slice(before).find((l) => l.model === 'stall-model'), 5000, 'the access-log line');
    expect(line).toMatchObject({ status: 499, client_aborted: true, error_type: 'cancelled' });
    expect(line.attempts).toEqual([expect.objectContaining({ provider: 'anthropic', model: 'up', outcome: 'failure', failure: 'aborted' })]);
  });
});

/**
 * Running out of file descriptors, injected for real: the built gateway runs under `ulimit -n`.
 * Every request still gets an HTTP answer (503 overloaded_error, which clients retry), an
 * access-log line and an operational log line; before, connections were closed without a byte
 * (the kernel refused the accept) or got a 502 blamed on a healthy upstream.
 */
describe('file descriptors run out', () => {
  let fake: FakeAnthropic;
  beforeAll(async () => {
    assertBuilt();
    fake = await startFakeAnthropic();
    fake.fallback = () => ({ kind: 'message', delayMs: 3000 });
  });
  afterAll(() => fake.close());

  async function spawnLimited(fds: number, args: string[] = []) {
    const file = writeConfig(simpleConfig(fake.url));
    const child = spawn(
      'bash',
      [
        '-c',
        `ulimit -n ${fds} && exec "$0" "$@"`,
        process.execPath,
        CLI,
        'gateway',
        '--config',
        file,
        '--port',
        '0',
        '--admin-port',
        '0',
        '--host',
        '127.0.0.1',
        ...args,
      ],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    let err = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (err += d));
    const listening = await waitFor(() => err.split('\n').find((l) => l.includes('"gateway listening"')), 10_000, 'the gateway to listen');
    const { port, adminPort } = JSON.parse(listening);
    return {
      port,
      adminPort,
      stdout: () => out,
      stderr: () => err,
      access: () =>
        out
          .split('\n')
          .filter((l) => l.startsWith('{'))
          .map((l) => JSON.parse(l)),
      stop: () => new Promise<void>((resolve) => (child.exitCode !== null ? resolve() : (child.once('exit', () => resolve()), child.kill('SIGKILL')))),
    };
  }

  const body = JSON.stringify({ model: 'claude-test', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] });
  const requestBytes = `POST /v1/messages HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nx-api-key: ${CLIENT_KEY}\r\ncontent-length: ${body.length}\r\n\r\n${body}`;

  /** A connection that optionally sends a request; `result` resolves with what came back when it closed. */
  function open(port: number, send: boolean) {
    const socket: Socket = connect(port, '127.0.0.1');
    let got = '';
    let closed = false;
    socket.on('data', (d) => (got += d));
    socket.on('error', () => undefined);
    const result = new Promise<{ status: number | null; body: any; requestId?: string }>((resolve) =>
      socket.on('close', () => {
        closed = true;
        const status = /^HTTP\/1\.1 (\d+)/.exec(got);
        const json = got.slice(got.indexOf('\r\n\r\n') + 4);
        resolve({ status: status ? Number(status[1]) : null, body: json ? JSON.parse(json) : undefined, requestId: /request-id: (\S+)/i.exec(got)?.[1] });
      }),
    );
    if (send) socket.on('connect', () => socket.write(requestBytes.replace('\r\n\r\n', '\r\nconnection: close\r\n\r\n')));
    return { socket, result, closed: () => closed };
  }

  test('past the connection cap derived from the limit, new connections get an answered, logged 503', async () => {
    const gw = await spawnLimited(64);
    try {
      const conns = [];
      for (let i = 0; i < 30; i++) {
        conns.push(open(gw.port, true));
        await sleep(30);
      }
      const results = await Promise.all(conns.map((c) => c.result));
      // Nothing closed without an answer; some were served, the rest refused in the envelope.
      expect(results.filter((r) => r.status === null)).toEqual([]);
      const refused = results.filter((r) => r.status === 503);
      expect(results.filter((r) => r.status === 200).length).toBeGreaterThan(0);
      expect(refused.length).toBeGreaterThan(0);
      for (const r of refused)
        expect(r.body).toEqual({
          type: 'error',
          error: { type: 'overloaded_error', message: expect.stringContaining('too many open connections') },
          request_id: r.requestId,
        });
      await waitFor(() => gw.access().filter((l) => l.status === 503).length === refused.length, 5000, 'an access-log line per refusal');
      expect(
        gw
          .access()
          .filter((l) => l.status === 503)
          .every((l) => l.error_type === 'overloaded_error'),
      ).toBe(true);
      expect(gw.stderr()).toContain('connection cap');
      const metrics = await (await fetch(`http://127.0.0.1:${gw.adminPort}/metrics`)).text();
      expect(metrics).toMatch(new RegExp(`switchyard_requests_total\\{[^}]*code="503"[^}]*\\} ${refused.length}\\b`));
    } finally {
      await gw.stop();
    }
  });

  test('with no cap, an upstream connect that fails with EMFILE is a logged 503, not a 502 blamed on the upstream', async () => {
    const gw = await spawnLimited(64, ['--max-connections', '0']);
    const idle: Array<ReturnType<typeof open>> = [];
    try {
      // Fill the table with idle connections until the kernel refuses an accept (libuv then closes it at once).
      for (let i = 0; i < 100; i++) {
        const c = open(gw.port, false);
        await sleep(150);
        if (c.closed()) break;
        idle.push(c);
      }
      expect(idle.length).toBeLessThan(100);
      // On a loaded machine a dropped connection may close late: only those still open hold a descriptor.
      await sleep(500);
      for (let i = idle.length - 1; i >= 0; i--) if (idle[i].closed()) idle.splice(i, 1);
      // Free exactly one descriptor: the next connection is accepted, and its upstream connect has none left.
      idle.pop()!.socket.destroy();
      await sleep(300);
      const r = await open(gw.port, true).result;
      expect(r.status).toBe(503);
      expect(r.body).toEqual({
        type: 'error',
        error: { type: 'overloaded_error', message: expect.stringContaining('file descriptors') },
        request_id: r.requestId,
      });
      const line = await waitFor(() => gw.access().find((l) => l.request_id === r.requestId), 5000, 'the access-log line');
      expect(line).toMatchObject({ status: 503, error_type: 'overloaded_error' });
      expect(line.attempts).toEqual([expect.objectContaining({ outcome: 'failure', error_type: 'overloaded_error' })]);
      expect(gw.stderr()).toContain('out of file descriptors connecting upstream');
    } finally {
      for (const c of idle) c.socket.destroy();
      await gw.stop();
    }
  });
});

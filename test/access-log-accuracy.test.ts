import type { Gateway } from '../gateway/src/gateway';
import { installTelemetry } from '../gateway/src/telemetry';
import { startFakeAnthropic, type FakeAnthropic } from './helpers/fake-anthropic';
import { CLIENT_KEY, apiKey, modelRoute, secret, snapshotOf, startGateway } from './helpers/gateway';
import { startServer, waitFor, type TestServer } from './helpers/http-server';

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

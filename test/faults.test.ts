import type { Gateway } from '../gateway/src/gateway';
import { createLogger } from '../gateway/src/log';
import { installTelemetry } from '../gateway/src/telemetry';
import {
  PROVIDERS,
  flood,
  reset,
  send,
  sse,
  startFaultUpstream,
  trickle,
  keepalives,
  MODEL,
  type Fault,
  type FaultUpstream,
  type Provider,
} from './helpers/fault-upstream';
import { CLIENT_KEY, adminURL, apiKey, baseURL, modelRoute, secret, snapshotOf, startGateway } from './helpers/gateway';
import { textChunks } from './helpers/fake-gemini';
import { startFakeGoogleOAuth, serviceAccountKey, type FakeGoogleOAuth } from './helpers/fake-google-oauth';
import type { K8sObject } from '../gateway/src/config/k8s-object';
import { sleep, waitFor } from './helpers/http-server';
import { scrape } from './helpers/prom';
import { parseSse } from './helpers/sse-client';

/**
 * The standing fault campaign: every fault an upstream (or a proxy in front of it) can commit,
 * injected over real HTTP, against every provider. Each row says what the client must see; every
 * case also checks that nothing the client gets carries the target's credential (whole or
 * masked) or the upstream's address, that the response has a request-id, and that the access log
 * and metrics record what the client got rather than a success.
 *
 * To hold the gateway to a new fault, add a row: `fault` scripts the upstream through the
 * provider-neutral Wire (see helpers/fault-upstream.ts), `expect` says what the client sees, per
 * provider when they differ. A new provider joins by teaching fault-upstream its wire format.
 */

/** Not shaped like any known key, so only the exact-secret rule of the redaction policy can catch it. */
// Its last four characters are not hex: the check that they never reach the client must not
// trip over a fake's random hex message id (`msg_…2e51` once did).
const UPSTREAM_SECRET = 'upstream-secret-7f3a9cQzW8';
const masked = (key: string) => `${key.slice(0, 4)}...${key.slice(-4)}`;

interface Expect {
  /** HTTP status the client gets. */
  status: number;
  /** Error type the client gets (the JSON error, or the stream's final `error` event); absent for a success. */
  type?: string;
  /** Upstream requests made (retries included), when the row is about retrying. */
  attempts?: number;
  /** The access log's `attempts`, each matched as a subset, when the row is about how an attempt failed. */
  attemptLog?: Array<Record<string, unknown>>;
  /** Every upstream connection was dropped before its reply was complete (not drained, not left open). */
  dropped?: boolean;
}

interface FaultRow {
  name: string;
  /** Whether the client asks for a stream. */
  stream: boolean;
  fault: Fault;
  expect: Expect | ((p: Provider) => Expect);
  /** Providers the row does not apply to (a fault their wire format cannot express). */
  skip?: Provider[];
  /** Target fields beyond the table's own (e.g. a short maxDurationSeconds). */
  target?: Record<string, unknown>;
}

const hang = () => new Promise<void>(() => undefined);

/** The gateway's caps in this suite (small, so an oversized reply is quick to send); FLOOD is well past both. */
const MAX_EVENT_BYTES = 64 * 1024;
const MAX_UPSTREAM_BODY_BYTES = 64 * 1024;
const FLOOD = 16 * 1024 * 1024;
/** Keep-alive pieces (an SSE comment line, or the wire's equivalent): bytes that reset the upstream idle timer and carry no event. */
const KEEPALIVE = 100;
const KEEPALIVE_LONG = 2000;
const TIMED_OUT = { outcome: 'failure', error_type: 'timeout_error' };

const FAULTS: FaultRow[] = [
  { name: 'connection reset before headers', stream: false, fault: (_q, res) => reset(res), expect: { status: 502, type: 'api_error', attempts: 2 } },
  { name: 'connection reset before headers (stream)', stream: true, fault: (_q, res) => reset(res), expect: { status: 502, type: 'api_error', attempts: 2 } },
  {
    name: 'connection reset mid-body',
    stream: false,
    fault: async (_q, res, w) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(w.answer().length) });
      await send(res, w.answer().slice(0, 20));
      reset(res);
    },
    expect: { status: 502, type: 'api_error', attempts: 2 },
  },
  {
    name: 'connection reset mid-stream',
    stream: true,
    fault: async (_q, res, w) => {
      sse.head(res);
      await send(res, w.streamHead());
      reset(res);
    },
    expect: { status: 200, type: 'api_error', attempts: 1 },
  },
  {
    name: '200 with truncated JSON',
    stream: false,
    fault: (_q, res, w) => sse.json(res, 200, w.answer().slice(0, -12)),
    expect: { status: 502, type: 'api_error', attempts: 2 },
  },
  {
    name: '200 with JSON that is not an answer',
    stream: false,
    fault: (_q, res) => sse.json(res, 200, '{"status":"ok","note":"proxy health page"}'),
    expect: { status: 502, type: 'api_error', attempts: 2 },
  },
  {
    name: '200 with an HTML page',
    stream: false,
    fault: (_q, res) => sse.json(res, 200, '<html><body>Please sign in to the proxy</body></html>', 'text/html'),
    expect: { status: 502, type: 'api_error', attempts: 2 },
  },
  {
    name: '200 with an HTML page (stream)',
    stream: true,
    fault: (_q, res) => sse.json(res, 200, '<html><body>Please sign in to the proxy</body></html>', 'text/html'),
    expect: { status: 502, type: 'api_error', attempts: 2 },
  },
  {
    name: 'non-JSON error page echoing the key',
    stream: false,
    fault: (_q, res, w) =>
      sse.json(res, 502, `<html><h1>502 Bad Gateway</h1><pre>x-api-key: ${w.key} (${masked(w.key)}) Authorization: Bearer ${w.key}</pre></html>`, 'text/html'),
    expect: { status: 502, type: 'api_error', attempts: 2 },
  },
  {
    name: 'JSON error body echoing the key',
    stream: false,
    fault: (_q, res, w) => sse.json(res, 401, w.errorBody(401, `Incorrect API key provided: ${w.key}; you sent ${masked(w.key)}`)),
    expect: { status: 401, type: 'authentication_error', attempts: 1 },
  },
  {
    name: 'error whose request-id headers echo the key',
    stream: false,
    fault: (_q, res, w) => {
      res.writeHead(429, { 'content-type': 'application/json', 'request-id': `req_${w.key}`, 'x-request-id': `req_${w.key}`, 'retry-after': '0' });
      res.end(w.errorBody(429, 'slow down'));
    },
    expect: { status: 429, type: 'rate_limit_error', attempts: 1 },
  },
  {
    name: 'mid-stream error event echoing the key',
    stream: true,
    fault: async (_q, res, w) => {
      sse.head(res);
      await send(res, w.streamHead());
      res.end(w.streamError(`backend rejected credential ${w.key} (${masked(w.key)})`));
    },
    expect: { status: 200, type: 'api_error', attempts: 1 },
  },
  {
    name: 'malformed SSE event',
    stream: true,
    fault: async (_q, res, w) => {
      sse.head(res);
      await send(res, w.streamHead());
      res.end(w.malformedEvent() + w.streamTail());
    },
    expect: { status: 200, type: 'api_error', attempts: 1 },
  },
  {
    name: 'stream opening with an error event echoing the key',
    stream: true,
    fault: (_q, res, w) => {
      sse.head(res);
      res.end(w.streamError(`backend rejected credential ${w.key}`));
    },
    expect: { status: 500, type: 'api_error', attempts: 2 },
  },
  {
    name: 'stream answer to a non-stream request',
    stream: false,
    fault: (_q, res, w) => {
      sse.head(res);
      res.end(w.streamHead() + w.streamTail());
    },
    expect: { status: 502, type: 'api_error', attempts: 2 },
  },
  { name: 'JSON answer to a stream request', stream: true, fault: (_q, res, w) => sse.json(res, 200, w.answer()), expect: { status: 200, attempts: 1 } },
  { name: 'headers timeout', stream: false, fault: () => hang(), expect: { status: 504, type: 'timeout_error', attempts: 2 } },
  {
    name: 'idle timeout before the first event (stream)',
    stream: true,
    fault: async (_q, res) => {
      sse.head(res);
      await hang();
    },
    expect: {
      status: 504,
      type: 'timeout_error',
      attempts: 2,
      attemptLog: [
        { ...TIMED_OUT, failure: 'idle_timeout' },
        { ...TIMED_OUT, failure: 'idle_timeout' },
      ],
    },
  },
  {
    name: 'oversized SSE event mid-stream',
    stream: true,
    fault: async (_q, res, w) => {
      sse.head(res);
      await send(res, w.streamHead());
      await flood.event(res, w, FLOOD);
    },
    expect: { status: 200, type: 'api_error', attempts: 1, dropped: true },
  },
  {
    name: 'oversized SSE event before the first event',
    stream: true,
    fault: async (_q, res, w) => {
      sse.head(res);
      await flood.event(res, w, FLOOD);
    },
    // Not retried: the next try would be as large.
    expect: { status: 502, type: 'api_error', attempts: 1, dropped: true, attemptLog: [{ outcome: 'failure', failure: 'too_large' }] },
  },
  {
    name: 'oversized JSON reply (chunked)',
    stream: false,
    fault: async (_q, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      await flood.json(res, FLOOD);
    },
    expect: { status: 502, type: 'api_error', attempts: 1, dropped: true, attemptLog: [{ outcome: 'failure', failure: 'too_large' }] },
  },
  {
    name: 'oversized JSON reply (content-length)',
    stream: false,
    fault: async (_q, res) => {
      // Refused on the header alone: the body that follows is shorter than announced, and never read.
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(4 * FLOOD) });
      await flood.json(res, FLOOD);
    },
    expect: { status: 502, type: 'api_error', attempts: 1, dropped: true, attemptLog: [{ outcome: 'failure', failure: 'too_large' }] },
  },
  {
    name: 'oversized error body',
    stream: false,
    fault: async (_q, res) => {
      res.writeHead(500, { 'content-type': 'application/json' });
      await flood.json(res, FLOOD);
    },
    expect: { status: 502, type: 'api_error', attempts: 1, dropped: true },
  },
  {
    name: 'stream trickling past maxDurationSeconds',
    stream: true,
    target: { maxDurationSeconds: 2 },
    fault: async (_q, res, w) => {
      sse.head(res);
      await send(res, w.streamHead());
      await trickle(res, keepalives(w, KEEPALIVE), 300);
    },
    expect: { status: 200, type: 'timeout_error', attempts: 1, dropped: true },
  },
  {
    name: 'JSON trickling past maxDurationSeconds',
    stream: false,
    target: { maxDurationSeconds: 2 },
    fault: async (_q, res, w) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      await trickle(res, [...w.answer()], 300);
    },
    // Retried under retry.on timeout: nothing had reached the client.
    expect: {
      status: 504,
      type: 'timeout_error',
      attempts: 2,
      dropped: true,
      attemptLog: [
        { ...TIMED_OUT, failure: 'timeout' },
        { ...TIMED_OUT, failure: 'timeout' },
      ],
    },
  },
  {
    name: 'idle timeout mid-stream',
    stream: true,
    fault: async (_q, res, w) => {
      sse.head(res);
      await send(res, w.streamHead());
      await hang();
    },
    expect: { status: 200, type: 'timeout_error', attempts: 1 },
  },
];

let up: FaultUpstream;
let google: FakeGoogleOAuth;
const saKey = serviceAccountKey('fault-project');
beforeAll(async () => {
  up = await startFaultUpstream();
  // Vertex's bearer token is the credential the faults echo: it carries UPSTREAM_SECRET.
  google = await startFakeGoogleOAuth({ publicKeyPem: saKey.publicKeyPem, clientEmail: saKey.clientEmail, token: `ya29.${UPSTREAM_SECRET}` });
  // Like many real upstreams: idle connections are kept for a minute (so one the gateway leaves shows).
  up.server.keepAliveTimeout = 65_000;
});
afterAll(() => Promise.all([up.close(), google.close()]));

/**
 * What a provider's column needs beyond the table's fields: bedrock's region; vertex's region,
 * project and service-account key (exchanged at the fake OAuth).
 */
function cloud(provider: Provider): { secrets: K8sObject[]; fields: Record<string, unknown> } {
  if (provider === 'bedrock') return { secrets: [], fields: { region: 'us-east-1' } };
  if (provider !== 'vertex' && provider !== 'vertex-gemini') return { secrets: [], fields: {} };
  return {
    secrets: [secret('upstream-vertex', { 'service-account.json': saKey.json(`${google.url}/token`) })],
    fields: {
      provider: 'vertex',
      region: 'us-east5',
      project: 'fault-project',
      credentialsRef: { name: 'upstream-vertex' },
      ...(provider === 'vertex-gemini' ? { options: { publisher: 'google' } } : {}),
    },
  };
}

/** One key and one route `claude-test` → `provider`'s target on the fault upstream, with `target` and `route` fields on top. */
function faultConfig(provider: Provider, target: Record<string, unknown>, route: Record<string, unknown> = {}): K8sObject[] {
  const { secrets, fields } = cloud(provider);
  return [
    secret('upstream', { apiKey: UPSTREAM_SECRET }),
    secret('client', { key: CLIENT_KEY }),
    ...secrets,
    modelRoute('faulty', {
      model: 'claude-test',
      targets: [{ provider, model: MODEL, baseURL: up.baseURL(provider), credentialsRef: { name: 'upstream' }, ...fields, ...target }],
      ...route,
    }),
    apiKey('team-a', { secretRef: { name: 'client' } }),
  ];
}

const cases = FAULTS.flatMap((row) => PROVIDERS.filter((p) => !row.skip?.includes(p)).map((p): [string, Provider, FaultRow] => [row.name, p, row]));

describe.each(cases)('%s — %s', (_name, provider, row) => {
  let gw: Gateway;
  const lines: string[] = [];
  const logged: string[] = [];
  beforeEach(async () => {
    lines.length = 0;
    logged.length = 0;
    up.received.length = 0;
    up.fault = row.fault;
    gw = await startGateway(
      snapshotOf(
        faultConfig(provider, { timeoutSeconds: 1, idleTimeoutSeconds: 1, ...row.target }, { retry: { attempts: 2, on: ['5xx', 'connect', 'timeout'] } }),
      ),
      {
        log: createLogger('gateway', 'debug', (l) => logged.push(l)),
        options: { maxEventBytes: MAX_EVENT_BYTES, maxUpstreamBodyBytes: MAX_UPSTREAM_BODY_BYTES },
      },
    );
    installTelemetry(gw, {}, { accessLogSink: (l) => lines.push(l) });
  });
  afterEach(() => gw.close());

  test('the client gets what the row says, with a request-id, no secret and no upstream address; the access log and metrics agree', async () => {
    const want = typeof row.expect === 'function' ? row.expect(provider) : row.expect;
    const res = await fetch(`${baseURL(gw)}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': CLIENT_KEY, 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({ model: 'claude-test', max_tokens: 10, stream: row.stream, messages: [{ role: 'user', content: 'Hi' }] }),
    });
    const text = await res.text();
    const requestId = res.headers.get('request-id');
    expect(requestId).toMatch(/^req_/);
    expect(res.status).toBe(want.status);

    if (res.status === 200 && row.stream) {
      expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
      const events = parseSse(text).filter((e) => e.event !== 'ping');
      expect(events[0]?.event).toBe('message_start');
      const last = events[events.length - 1];
      if (want.type) {
        expect(last).toMatchObject({ event: 'error', data: { type: 'error', error: { type: want.type } } });
        // Nothing may follow the error, and nothing before it may be a half-parsed event.
        expect(events.filter((e) => e.event === 'error')).toHaveLength(1);
        for (const e of events) expect(typeof e.data).toBe('object');
      } else {
        expect(last?.event).toBe('message_stop');
        const textOut = events
          .filter((e) => e.event === 'content_block_delta')
          .map((e) => e.data.delta.text ?? '')
          .join('');
        expect(textOut).toBe('Hello');
      }
    } else {
      const body = JSON.parse(text);
      if (want.type) {
        // A passed-through upstream error keeps the upstream's own request_id; the header is the gateway's.
        expect(body).toMatchObject({ type: 'error', error: { type: want.type }, request_id: expect.stringMatching(/^req_/) });
      } else {
        expect(body.type).toBe('message');
      }
    }

    const everything = `${[...res.headers].map(([k, v]) => `${k}: ${v}`).join('\n')}\n${text}`;
    expect(everything).not.toContain(UPSTREAM_SECRET);
    expect(everything).not.toContain(UPSTREAM_SECRET.slice(-4));
    expect(everything).not.toContain(CLIENT_KEY);
    expect(everything).not.toContain(`:${up.port}`);

    if (want.attempts !== undefined) expect(up.received).toHaveLength(want.attempts);
    // Dropped, not drained: an upstream that would go on for ever must not hold a connection.
    if (want.dropped) for (const r of up.received) await expect(r.closed).resolves.toEqual({ aborted: true });

    const line = await waitFor(() => lines.map((l) => JSON.parse(l)).find((r) => r.request_id === requestId), 10_000, 'access log line');
    expect(line.status).toBe(want.status);
    expect(line.error_type).toBe(want.type ?? null);
    if (want.attemptLog) expect(line.attempts).toEqual(want.attemptLog.map((a) => expect.objectContaining(a)));
    expect(JSON.stringify(line)).not.toContain(UPSTREAM_SECRET);
    const metrics = await scrape(adminURL(gw));
    expect(metrics.sum('switchyard_requests_total', { code: String(want.status) })).toBe(1);
    // A stream that started and then failed is a 200 above; this is where it shows as a failure.
    const brokenStream = res.status === 200 && want.type !== undefined;
    expect(metrics.sum('switchyard_stream_errors_total', brokenStream ? { type: want.type! } : {})).toBe(brokenStream ? 1 : 0);
    expect(metrics.text).not.toContain(UPSTREAM_SECRET);
    expect(logged.join('\n')).not.toContain(UPSTREAM_SECRET);
  });
});

describe('Gemini streamGenerateContent answered without alt=sse (one JSON array of chunks)', () => {
  let gw: Gateway;
  beforeEach(async () => {
    up.received.length = 0;
    gw = await startGateway(
      snapshotOf([
        secret('upstream', { apiKey: UPSTREAM_SECRET }),
        secret('client', { key: CLIENT_KEY }),
        modelRoute('gemini', {
          model: 'claude-test',
          targets: [{ provider: 'gemini', model: MODEL, baseURL: up.baseURL('gemini'), credentialsRef: { name: 'upstream' } }],
        }),
        apiKey('team-a', { secretRef: { name: 'client' } }),
      ]),
    );
  });
  afterEach(() => gw.close());

  const streamed = async () => {
    const res = await fetch(`${baseURL(gw)}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': CLIENT_KEY },
      body: JSON.stringify({ model: 'claude-test', max_tokens: 10, stream: true, messages: [{ role: 'user', content: 'Hi' }] }),
    });
    return { status: res.status, events: parseSse(await res.text()).filter((e) => e.event !== 'ping') };
  };

  test('the chunks are translated as the stream they would have been', async () => {
    up.fault = (_q, res) => sse.json(res, 200, JSON.stringify(textChunks('Hello', { model: MODEL })));
    const { status, events } = await streamed();
    expect(status).toBe(200);
    expect(
      events
        .filter((e) => e.event === 'content_block_delta')
        .map((e) => e.data.delta.text)
        .join(''),
    ).toBe('Hello');
    expect(events[events.length - 1].event).toBe('message_stop');
  });

  test('an array cut short (no finishReason) ends with an error event, as a cut stream does', async () => {
    up.fault = (_q, res) => sse.json(res, 200, JSON.stringify(textChunks('Hello', { model: MODEL }).slice(0, 1)));
    const { status, events } = await streamed();
    expect(status).toBe(200);
    expect(events[events.length - 1]).toMatchObject({ event: 'error', data: { error: { type: 'api_error' } } });
  });
});

/**
 * Faults on the client's side and the gateway's own (the client leaving, the drain running out),
 * against every provider: what the access log records, and what is left of the upstream
 * connections. A row's `fault` calls `started()` once the upstream is committed to its reply;
 * `run` plays the client and checks.
 */
interface ClientRowContext {
  gw: Gateway;
  provider: Provider;
  /** Resolves once the upstream has begun (or, for a hang, received) the request. */
  started: () => Promise<void>;
  post(signal?: AbortSignal): Promise<Response>;
  /** The access-log line of the only request the row makes. */
  line(): Promise<any>;
  /** Every access-log line so far. */
  lines(): any[];
}

interface ClientRow {
  name: string;
  stream: boolean;
  fault: (started: () => void) => Fault;
  run(c: ClientRowContext): Promise<void>;
}

/** Reads a stream until `until` shows in it (or it ends); returns what was read. */
async function readUntil(reader: ReadableStreamDefaultReader<Uint8Array>, until?: string): Promise<string> {
  const decoder = new TextDecoder();
  let text = '';
  while (until === undefined || !text.includes(until)) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
  }
  return text;
}

const upstreamConnections = () => new Promise<number>((resolve) => up.server.getConnections((_e, n) => resolve(n)));

const CLIENT_ROWS: ClientRow[] = [
  {
    name: 'client leaving during the upstream body',
    stream: false,
    fault: (started) => async (_q, res, w) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      await send(res, w.answer().slice(0, 20));
      started();
      await hang();
    },
    run: async ({ started, post, line }) => {
      const ac = new AbortController();
      const pending = post(ac.signal).catch((e) => e);
      await started();
      ac.abort();
      await pending;
      expect(await line()).toMatchObject({
        status: 499,
        client_aborted: true,
        error_type: 'cancelled',
        attempts: [expect.objectContaining({ outcome: 'failure', failure: 'aborted' })],
      });
    },
  },
  {
    name: 'clients aborting streams',
    stream: true,
    fault: (started) => async (_q, res, w) => {
      sse.head(res);
      await send(res, w.streamHead());
      started();
      // Bytes keep arriving: undici's reconnect follows an abort with a read in progress.
      await trickle(res, keepalives(w, KEEPALIVE_LONG), 50);
    },
    run: async ({ post, lines }) => {
      const ABORTED = 10;
      await Promise.all(
        Array.from({ length: ABORTED }, async () => {
          const ac = new AbortController();
          const res = await post(ac.signal);
          expect(res.status).toBe(200);
          await readUntil(res.body!.getReader(), 'content_block_delta');
          await sleep(20 + Math.random() * 100);
          ac.abort();
        }),
      );
      const logged = await waitFor(() => (lines().length === ABORTED ? lines() : undefined), 10_000, 'every access log line');
      for (const l of logged) expect(l).toMatchObject({ status: 200, client_aborted: true });
      // undici reconnects after an aborted request and leaves the new socket idle (see
      // providers/connector.ts): once that reconnect has had time to happen (it follows the abort
      // within a few ticks), none of the gateway's upstream connections may remain.
      await sleep(1500);
      await waitFor(async () => (await upstreamConnections()) === 0, 10_000, 'no upstream connection left');
    },
  },
  {
    name: 'drain cut while a stream is in flight',
    stream: true,
    fault: (started) => async (_q, res, w) => {
      sse.head(res);
      await send(res, w.streamHead());
      started();
      await hang();
    },
    run: async ({ gw, post, line }) => {
      const res = await post();
      expect(res.status).toBe(200);
      const reader = res.body!.getReader();
      let text = await readUntil(reader, 'content_block_delta');
      const drained = gw.drain(300);
      text += await readUntil(reader);
      const events = parseSse(text).filter((e) => e.event !== 'ping');
      expect(events[events.length - 1]).toEqual({
        event: 'error',
        data: { type: 'error', error: { type: 'overloaded_error', message: 'gateway shutting down' }, request_id: res.headers.get('request-id') },
      });
      expect(await drained).toEqual({ forced: 1, shadowsAborted: 0 });
      expect(await line()).toMatchObject({ stream: true, status: 200, error_type: 'overloaded_error', client_aborted: false });
    },
  },
  {
    name: 'drain cut while waiting for a JSON reply',
    stream: false,
    fault: (started) => async () => {
      started();
      await hang();
    },
    run: async ({ gw, started, post, line }) => {
      const pending = post();
      await started();
      const drained = gw.drain(300);
      const res = await pending;
      expect(res.status).toBe(503);
      expect(await res.json()).toEqual({
        type: 'error',
        error: { type: 'overloaded_error', message: 'gateway shutting down' },
        request_id: res.headers.get('request-id'),
      });
      expect(await drained).toEqual({ forced: 1, shadowsAborted: 0 });
      expect(await line()).toMatchObject({ stream: false, status: 503, error_type: 'overloaded_error', client_aborted: false });
    },
  },
];

const clientCases = CLIENT_ROWS.flatMap((row) => PROVIDERS.map((p): [string, Provider, ClientRow] => [row.name, p, row]));

describe.each(clientCases)('%s — %s', (_name, provider, row) => {
  let gw: Gateway;
  let closed = false;
  const lines: string[] = [];
  let began: () => void;
  let beganP: Promise<void>;
  beforeEach(async () => {
    lines.length = 0;
    up.received.length = 0;
    beganP = new Promise<void>((resolve) => (began = resolve));
    up.fault = row.fault(() => began());
    gw = await startGateway(
      // Generous upstream timeouts: the row's own event, not a timeout, must end the request.
      snapshotOf(faultConfig(provider, { timeoutSeconds: 30, idleTimeoutSeconds: 30 })),
    );
    installTelemetry(gw, {}, { accessLogSink: (l) => lines.push(l) });
    const drain = gw.drain.bind(gw);
    closed = false;
    gw.drain = (ms) => ((closed = true), drain(ms));
  });
  afterEach(() => (closed ? undefined : gw.close()));

  test('the access log records what happened, and no upstream connection is left behind it', async () => {
    await row.run({
      gw,
      provider,
      started: () => beganP,
      post: (signal) =>
        fetch(`${baseURL(gw)}/v1/messages`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-api-key': CLIENT_KEY },
          body: JSON.stringify({ model: 'claude-test', max_tokens: 10, stream: row.stream, messages: [{ role: 'user', content: 'Hi' }] }),
          signal,
        }),
      line: () => waitFor(() => lines.map((l) => JSON.parse(l))[0], 10_000, 'access log line'),
      lines: () => lines.map((l) => JSON.parse(l)),
    });
  });
});

import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import type { Gateway } from '../gateway/src/gateway';
import { startFakeAnthropic, textStream, toolStream, type FakeAnthropic } from './helpers/fake-anthropic';
import { CLIENT_KEY, baseURL, simpleConfig, snapshotOf, startGateway } from './helpers/gateway';
import { grammarViolations } from './helpers/grammar';
import { parseSse, postSse } from './helpers/sse-client';
import { startServer, waitFor } from './helpers/http-server';

const fixture = JSON.parse(readFileSync(require.resolve('./fixtures/claude-code-request.json'), 'utf8'));
const fixtureBody = fixture.body;

/** Fidelity of the Anthropic pass-through: what the client sends is what the upstream gets, and back. */
describe('Anthropic pass-through fidelity', () => {
  let fake: FakeAnthropic;
  let gw: Gateway;
  const headers = { 'x-api-key': CLIENT_KEY, 'anthropic-version': '2023-06-01' };

  beforeAll(async () => {
    fake = await startFakeAnthropic();
    gw = await startGateway(snapshotOf(simpleConfig(fake.url, { model: 'claude-opus-4-8', aliases: [] })));
  });
  afterAll(async () => {
    await gw.close();
    await fake.close();
  });

  test('the Claude Code request reaches the upstream unchanged but for model, query string and headers kept', async () => {
    expect(fixtureBody.model).toBe('claude-opus-4-8');
    fake.queue.push({ kind: 'stream', events: toolStream('claude-upstream-1', { id: 'toolu_01', name: 'Bash', input: { command: 'ls' } }) });
    const raw = JSON.stringify(fixtureBody, null, 1); // odd whitespace must survive too
    const res = await fetch(`${baseURL(gw)}${fixture.path}`, {
      method: 'POST',
      headers: { ...fixture.headers, 'x-api-key': CLIENT_KEY },
      body: raw,
    });
    expect(res.status).toBe(200);
    const events = parseSse(await res.text());
    expect(grammarViolations(events)).toEqual([]);
    const up = fake.last();
    expect(up.path).toBe('/v1/messages?beta=true');
    expect(up.headers['anthropic-beta']).toBe(fixture.headers['anthropic-beta']);
    expect(up.headers['anthropic-version']).toBe('2023-06-01');
    expect(up.headers['user-agent']).toBe(fixture.headers['user-agent']);
    expect(up.body).toEqual({ ...fixtureBody, model: 'claude-upstream-1' });
    // Byte-level: only the model value differs.
    expect(up.raw.toString()).toBe(raw.replace('"model": "claude-opus-4-8"', '"model": "claude-upstream-1"'));
    // Mid-conversation system role, context_management, output_config, adaptive thinking all kept.
    expect(up.body.messages[1].role).toBe('system');
    expect(up.body.context_management).toEqual(fixtureBody.context_management);
    expect(up.body.thinking).toEqual({ type: 'adaptive' });
  });

  test('unknown fields, block types and tool flags pass through', async () => {
    const body = {
      model: 'claude-opus-4-8',
      max_tokens: 10,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'brand_new_block', payload: { x: 1 } },
            { type: 'text', text: 'hé \u2028 🚀', cache_control: { type: 'ephemeral', ttl: '1h' } },
          ],
        },
        { role: 'system', content: 'mid-conversation system' },
      ],
      tools: [
        { name: 't', input_schema: { type: 'object' }, strict: true, defer_loading: true, input_examples: [{}] },
        { type: 'web_search_20260318', name: 'web_search', max_uses: 3 },
      ],
      output_config: { effort: 'xhigh', format: { type: 'json_schema', schema: { type: 'object' } } },
      some_future_field: { nested: [1, 2.5, 'x'] },
      container: null,
    };
    const res = await fetch(`${baseURL(gw)}/v1/messages`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(200);
    expect(fake.last().body).toEqual({ ...body, model: 'claude-upstream-1' });
  });

  test('the client receives the upstream events in order, byte for byte', async () => {
    const events = textStream('claude-upstream-1', ['a', 'b', 'c', 'd']);
    fake.queue.push({ kind: 'stream', events });
    const r = await postSse(`${baseURL(gw)}/v1/messages`, headers, {
      model: 'claude-opus-4-8',
      max_tokens: 10,
      stream: true,
      messages: [{ role: 'user', content: 'x' }],
    });
    expect(r.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(r.headers.get('request-id')).toMatch(/^req_/);
    const expected = events.map(([name, data]) => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`).join('');
    expect(r.text).toBe(expected);
  });

  /** The upstream sends `bytes` in pieces ending at `cuts`, a pause between them; returns the client's text. */
  async function relayedInPieces(bytes: Buffer, cuts: number[]): Promise<string> {
    const up = await startServer(async (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      let from = 0;
      for (const to of cuts) {
        res.write(bytes.subarray(from, to));
        from = to;
        await new Promise((r) => setTimeout(r, 30));
      }
      res.end();
    });
    const split = await startGateway(snapshotOf(simpleConfig(up.url)));
    try {
      const r = await postSse(`${baseURL(split)}/v1/messages`, headers, {
        model: 'claude-test',
        max_tokens: 10,
        stream: true,
        messages: [{ role: 'user', content: 'x' }],
      });
      return r.text;
    } finally {
      await split.close();
      await up.close();
    }
  }

  /** A text stream with a euro sign and a rocket, as the client should get it, and as upstream bytes after a BOM. */
  function bomStream(): { text: string; bytes: Buffer } {
    const events = textStream('claude-upstream-1', ['€ and 🚀', ' — done']);
    const text = events.map(([name, data]) => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`).join('');
    return { text, bytes: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text)]) };
  }

  test('characters split across upstream chunks reach the client intact', async () => {
    const { text, bytes } = bomStream();
    // Cut inside the euro sign (3 bytes) and inside the rocket (4 bytes).
    const cuts = [bytes.indexOf(Buffer.from('€')) + 1, bytes.indexOf(Buffer.from('🚀')) + 2, bytes.length];
    const got = await relayedInPieces(bytes, cuts);
    expect(got).toBe(text);
    expect(grammarViolations(parseSse(got))).toEqual([]);
  });

  test('a BOM and characters in chunks that each end on an event boundary reach the client as in split chunks', async () => {
    // Chunks ending in an ASCII byte are decoded without a StringDecoder (one is made only for a
    // chunk that ends inside a character): the BOM must still go, the characters stay whole.
    const { text, bytes } = bomStream();
    const firstEvent = bytes.indexOf('\n\n') + 2;
    // Whole events first, then a cut inside the rocket, then the rest.
    const cuts = [firstEvent, bytes.indexOf(Buffer.from('🚀')) + 1, bytes.length];
    const got = await relayedInPieces(bytes, cuts);
    expect(got).toBe(text);
    expect(grammarViolations(parseSse(got))).toEqual([]);
  });

  test('a JSON reply carries the headers the gateway sets: JSON content type and length, request ids', async () => {
    const res = await fetch(`${baseURL(gw)}/v1/messages`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'claude-opus-4-8', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(res.headers.get('request-id')).toMatch(/^req_/);
    expect(res.headers.get('upstream-request-id')).toMatch(/^req_fake/);
    const text = await res.text();
    expect(Number(res.headers.get('content-length'))).toBe(Buffer.byteLength(text));
    expect(JSON.parse(text)).toMatchObject({ type: 'message', model: 'claude-upstream-1' });
  });

  test('upstream error bodies and statuses pass through with retry-after', async () => {
    fake.queue.push({ kind: 'error', status: 429, type: 'rate_limit_error', message: 'slow down', headers: { 'retry-after': '30' } });
    // 30 s exceeds the gateway's longest retry wait, so it is not retried and reaches the client.
    const res = await fetch(`${baseURL(gw)}/v1/messages`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'claude-opus-4-8', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }),
    });
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('30');
    expect(res.headers.get('request-id')).toMatch(/^req_/);
    expect(res.headers.get('upstream-request-id')).toMatch(/^req_fake/);
    const body: any = await res.json();
    expect(body).toMatchObject({ type: 'error', error: { type: 'rate_limit_error', message: 'slow down' } });
  });

  test('a non-JSON upstream error page becomes an Anthropic envelope', async () => {
    fake.queue.push({
      kind: 'raw',
      status: 502,
      headers: { 'content-type': 'text/html', 'x-should-retry': 'false' },
      body: '<html><body>Bad Gateway</body></html>',
    });
    const res = await fetch(`${baseURL(gw)}/v1/messages`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'claude-opus-4-8', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }),
    });
    expect(res.status).toBe(502);
    const body: any = await res.json();
    expect(body.type).toBe('error');
    expect(body.error.type).toBe('api_error');
    expect(body.error.message).toContain('Bad Gateway');
    expect(body.request_id).toBe(res.headers.get('request-id'));
  });

  test('a client that disconnects mid-stream makes the upstream see its request aborted', async () => {
    fake.queue.push({
      kind: 'stream',
      events: textStream(
        'claude-upstream-1',
        Array.from({ length: 200 }, (_, i) => `t${i} `),
      ),
      delayMs: 20,
    });
    const before = fake.received.length;
    await new Promise<void>((resolve, reject) => {
      const req = request(`${baseURL(gw)}/v1/messages`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' } }, (res) => {
        let seen = 0;
        res.on('data', (chunk: Buffer) => {
          seen += chunk.toString().split('content_block_delta').length - 1;
          if (seen >= 3) {
            req.destroy();
            resolve();
          }
        });
        res.on('error', () => undefined);
      });
      req.on('error', (e) => (e.message.includes('socket hang up') || (e as any).code === 'ECONNRESET' ? undefined : reject(e)));
      req.end(JSON.stringify({ model: 'claude-opus-4-8', max_tokens: 5, stream: true, messages: [{ role: 'user', content: 'x' }] }));
    });
    await waitFor(() => fake.received.length > before, 2000, 'upstream request');
    const { aborted } = await fake.received[before].closed;
    expect(aborted).toBe(true);
    await waitFor(() => gw.inflightRequests === 0, 2000, 'gateway to settle');
  });

  test('a stream the upstream cuts mid-way ends with an SSE error event, never a silent cut', async () => {
    // The delay lets the first events reach the client; a cut before any byte is sent would be retried instead.
    fake.queue.push({ kind: 'stream', events: textStream('claude-upstream-1', ['a', 'b', 'c']), cutAfter: 4, delayMs: 30 });
    const r = await postSse(`${baseURL(gw)}/v1/messages`, headers, {
      model: 'claude-opus-4-8',
      max_tokens: 10,
      stream: true,
      messages: [{ role: 'user', content: 'x' }],
    });
    expect(r.status).toBe(200);
    const last = r.events[r.events.length - 1];
    expect(last.event).toBe('error');
    expect(last.data.error.type).toBe('api_error');
    expect(grammarViolations(r.events)).toEqual([]);
  });

  test('an upstream that opens a stream with overloaded_error is retried before anything reaches the client', async () => {
    fake.queue.push({ kind: 'stream', events: [['error', { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }]] });
    fake.queue.push({ kind: 'stream', events: textStream('claude-upstream-1', ['ok']) });
    const before = fake.received.length;
    const r = await postSse(`${baseURL(gw)}/v1/messages`, headers, {
      model: 'claude-opus-4-8',
      max_tokens: 10,
      stream: true,
      messages: [{ role: 'user', content: 'x' }],
    });
    expect(grammarViolations(r.events)).toEqual([]);
    expect(
      r.events
        .filter((e) => e.event === 'content_block_delta')
        .map((e) => e.data.delta.text)
        .join(''),
    ).toBe('ok');
    expect(fake.received.length - before).toBe(2);
  });
});

/**
 * What a live stream keeps of its request: the client's parsed body is let go once the stream
 * starts (a conversation's body, parsed, is often the largest thing a request holds, and a stream
 * can stay open for minutes), unless an observer reads it at the end (tracing) — which then still
 * sees it whole.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Gateway } from '../gateway/src/gateway';
import type { CallContext } from '../gateway/src/core/call';
import { textStream } from './helpers/fake-anthropic';
import { CLIENT_KEY, baseURL, simpleConfig, snapshotOf, startGateway } from './helpers/gateway';
import { grammarViolations } from './helpers/grammar';
import { parseSse } from './helpers/sse-client';
import { startServer, waitFor, type TestServer } from './helpers/http-server';

setFlagsFromString('--expose-gc');
const gc: () => void = runInNewContext('gc');

const events = textStream('claude-upstream-1', ['Hello', ' there']);
const sse = (upTo: number) =>
  events
    .slice(0, upTo)
    .map(([name, data]) => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`)
    .join('');

/** An upstream that sends the stream's first events, holds it open until `release()`, then ends it. */
async function heldUpstream(): Promise<{ up: TestServer; release(): void }> {
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  const up = await startServer(async (req, res) => {
    for await (const _ of req);
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(sse(3));
    await held;
    res.end(sse(events.length).slice(sse(3).length));
  });
  return { up, release };
}

async function openStream(gw: Gateway): Promise<{ text: Promise<string>; firstBytes: Promise<void> }> {
  const res = await fetch(`${baseURL(gw)}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': CLIENT_KEY, 'anthropic-version': '2023-06-01' },
    body: JSON.stringify({ model: 'claude-test', max_tokens: 10, stream: true, messages: [{ role: 'user', content: 'a question '.repeat(50) }] }),
  });
  expect(res.status).toBe(200);
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  let gotFirst!: () => void;
  const firstBytes = new Promise<void>((r) => (gotFirst = r));
  const all = (async () => {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return text;
      text += decoder.decode(value, { stream: true });
      gotFirst();
    }
  })();
  return { text: all, firstBytes };
}

test('a live stream lets go of the parsed request body while it is open', async () => {
  const { up, release } = await heldUpstream();
  const gw = await startGateway(snapshotOf(simpleConfig(up.url)));
  let body: WeakRef<object> | undefined;
  gw.observers.add({ attemptStart: (call: CallContext) => void (body = new WeakRef(call.body!)) });
  try {
    const stream = await openStream(gw);
    await stream.firstBytes;
    expect(body).toBeDefined();
    // Collected while the stream is still open (a few rounds: the GC may leave it for one).
    await waitFor(
      async () => {
        await new Promise((r) => setImmediate(r));
        gc();
        return body!.deref() === undefined;
      },
      10_000,
      'the request body to be collected',
    );
    release();
    const text = await stream.text;
    expect(text).toBe(sse(events.length));
    expect(grammarViolations(parseSse(text))).toEqual([]);
  } finally {
    release();
    await gw.close();
    await up.close();
  }
});

test('an observer that reads the request body at the end still gets it whole, for a stream too', async () => {
  const { up, release } = await heldUpstream();
  const gw = await startGateway(snapshotOf(simpleConfig(up.url)));
  const seen: unknown[] = [];
  gw.observers.add({ readsRequestBody: true, requestEnd: (call: CallContext) => void seen.push(call.body) });
  try {
    const stream = await openStream(gw);
    await stream.firstBytes;
    release();
    expect(await stream.text).toBe(sse(events.length));
    await waitFor(() => seen.length > 0, 10_000, 'the request to end');
    expect(seen).toEqual([{ model: 'claude-test', max_tokens: 10, stream: true, messages: [{ role: 'user', content: 'a question '.repeat(50) }] }]);
  } finally {
    release();
    await gw.close();
    await up.close();
  }
});

import { startFakeAnthropic, textStream, type FakeAnthropic } from './helpers/fake-anthropic';
import { CLIENT_KEY, simpleConfig } from './helpers/gateway';
import { assertBuilt, writeConfig } from './helpers/gateway-process';
import { waitFor } from './helpers/http-server';
import { startGatewayProcess } from './helpers/process';

/**
 * When `--drain-seconds` runs out, what is still open is ended by the gateway, visibly: a stream
 * gets a final `error` event (overloaded_error, which SDKs treat as retryable), a request still
 * waiting for its upstream gets a 503 in the envelope, and the access log says the gateway did it.
 */
describe('drain timeout', () => {
  let fake: FakeAnthropic;

  beforeAll(async () => {
    assertBuilt();
    fake = await startFakeAnthropic();
  });
  afterAll(() => fake.close());

  const accessLines = (stdout: string) =>
    stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l))
      .filter((l) => l.request_id);

  test('an open stream and a pending request are ended with overloaded_error, logged as the gateway’s doing', async () => {
    const gw = await startGatewayProcess(['--config', writeConfig(simpleConfig(fake.url)), '--drain-seconds', '0.5']);
    try {
      const url = `http://127.0.0.1:${gw.port}/v1/messages`;
      const headers = { 'content-type': 'application/json', 'x-api-key': CLIENT_KEY };
      const body = (stream: boolean) => JSON.stringify({ model: 'claude-test', max_tokens: 16, stream, messages: [{ role: 'user', content: 'hi' }] });

      fake.queue.push({
        kind: 'stream',
        events: textStream(
          'claude-upstream-1',
          Array.from({ length: 200 }, () => 'x'),
        ),
        delayMs: 100,
      });
      const streamRes = await fetch(url, { method: 'POST', headers, body: body(true) });
      expect(streamRes.status).toBe(200);
      const reader = streamRes.body!.getReader();
      let text = '';
      const decoder = new TextDecoder();
      while (!text.includes('content_block_delta')) text += decoder.decode((await reader.read()).value);

      fake.queue.push({ kind: 'hang' });
      const pending = fetch(url, { method: 'POST', headers, body: body(false) });
      await waitFor(() => fake.received.length >= 2, 5000, 'the second request upstream');

      gw.child.kill('SIGTERM');
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        text += decoder.decode(value);
      }
      const events = text.trim().split('\n\n');
      expect(events[events.length - 1]).toMatch(/^event: error\ndata: /);
      const last = JSON.parse(events[events.length - 1].split('\ndata: ')[1]);
      expect(last).toEqual({
        type: 'error',
        error: { type: 'overloaded_error', message: 'gateway shutting down' },
        request_id: streamRes.headers.get('request-id'),
      });

      const r = await pending;
      expect(r.status).toBe(503);
      expect(await r.json()).toEqual({
        type: 'error',
        error: { type: 'overloaded_error', message: 'gateway shutting down' },
        request_id: r.headers.get('request-id'),
      });

      expect(await gw.exited).toBe(0);
      const lines = accessLines(gw.stdout());
      expect(lines.find((l) => l.request_id === streamRes.headers.get('request-id'))).toMatchObject({
        stream: true,
        status: 200,
        error_type: 'overloaded_error',
        client_aborted: false,
      });
      expect(lines.find((l) => l.request_id === r.headers.get('request-id'))).toMatchObject({
        stream: false,
        status: 503,
        error_type: 'overloaded_error',
        client_aborted: false,
      });
      expect(gw.stderr()).toContain('"forced":2');
    } finally {
      await gw.stop();
    }
  });
});

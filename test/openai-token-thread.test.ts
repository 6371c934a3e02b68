import { countChatTokens } from '../gateway/src/providers/openai/tokens';
import { toChatRequest } from '../gateway/src/providers/openai/request';
import { readOptions } from '../gateway/src/providers/openai/options';
import { CLIENT_KEY, apiKey, modelRoute, secret } from './helpers/gateway';
import { assertBuilt, spawnGateway, writeConfig, type GatewayProcess } from './helpers/gateway-process';

/**
 * count_tokens for OpenAI targets runs tiktoken on a worker thread in the built gateway: the
 * encoder build (~0.5 s of CPU, more on a busy machine) and a long conversation's count must not
 * stall the requests and streams the pod is serving meanwhile.
 */
describe('OpenAI count_tokens off the event loop (built gateway process)', () => {
  let gw: GatewayProcess;

  beforeAll(async () => {
    assertBuilt();
    const file = writeConfig([
      secret('keys', { upstream: 'sk-proj-never-called', client: CLIENT_KEY }),
      modelRoute('gpt', {
        model: 'gpt-route',
        targets: [{ provider: 'openai', model: 'gpt-4o', baseURL: 'http://127.0.0.1:9/v1', credentialsRef: { name: 'keys', key: 'upstream' } }],
      }),
      apiKey('team', { secretRef: { name: 'keys', key: 'client' } }),
    ]);
    gw = await spawnGateway(file);
  });
  afterAll(() => {
    if (gw && gw.child.exitCode === null && gw.child.signalCode === null) gw.child.kill('SIGKILL');
  });

  test('the first count (encoder build) and a 450 KB conversation leave the gateway answering other requests meanwhile; the count is exact', async () => {
    const body = {
      model: 'gpt-route',
      system: 'You are terse.',
      messages: [
        { role: 'user', content: 'function foo(x) { return x * 2; } // the quick brown fox jumps over the lazy dog\n'.repeat(5600) },
        { role: 'assistant', content: 'Noted.' },
        { role: 'user', content: 'Count me.' },
      ],
    };
    const started = performance.now();
    let done = 0;
    const counted = fetch(`${gw.url}/v1/messages/count_tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': CLIENT_KEY, 'anthropic-version': '2023-06-01' },
      body: JSON.stringify(body),
    }).then(async (res) => {
      done = performance.now();
      return { status: res.status, json: (await res.json()) as any };
    });
    // Probe the same process while it counts: each probe's latency is how long its event loop was held.
    const latencies: number[] = [];
    while (!done) {
      const t = performance.now();
      await fetch(`${gw.url}/`);
      if (!done) latencies.push(performance.now() - t);
      await new Promise((r) => setTimeout(r, 10));
    }
    const { status, json } = await counted;
    expect(status).toBe(200);
    expect(json.input_tokens).toBe(countChatTokens(toChatRequest(body, 'gpt-4o', readOptions(undefined), false), readOptions(undefined)));
    const inFlight = done - started;
    // In-thread, the event loop would be held for (nearly) the whole count: one probe would wait
    // about as long as the count took. Off-thread, probes keep answering in a few milliseconds.
    expect(latencies.length).toBeGreaterThan(3);
    expect(Math.max(...latencies)).toBeLessThan(inFlight / 2);
  });

  test('the counting thread does not keep a drained gateway alive: SIGTERM exits 0', async () => {
    const stopped = gw.stop();
    const result = await Promise.race([stopped, new Promise((r) => setTimeout(() => r('still running after 10 s'), 10_000))]);
    expect(result).toBe(0);
    // By itself, not by the CLI's last-resort exit.
    expect(gw.logs.filter((l) => l.msg === 'exiting with handles still open')).toEqual([]);
  });
});

import type { Gateway } from '../gateway/src/gateway';
import { installTelemetry } from '../gateway/src/telemetry';
import { priceUsage } from '../gateway/src/core/cost';
import { startFakeAnthropic, textMessage, textStream, type FakeAnthropic } from './helpers/fake-anthropic';
import { CLIENT_KEY, simpleConfig, snapshotOf, startGateway } from './helpers/gateway';
import { waitFor } from './helpers/http-server';

/** Cache writes with a 1-hour TTL cost more than 5-minute ones (Anthropic: 2× input vs 1.25×); the gateway prices them apart. */
const PRICING = { inputPerMTok: 3, outputPerMTok: 15, cacheReadPerMTok: 0.3, cacheWritePerMTok: 3.75, cacheWrite1hPerMTok: 6 };
const USAGE = {
  input_tokens: 100,
  output_tokens: 50,
  cache_read_input_tokens: 1_000,
  cache_creation_input_tokens: 30_000,
  cache_creation: { ephemeral_5m_input_tokens: 10_000, ephemeral_1h_input_tokens: 20_000 },
};
const EXPECTED = (100 * 3 + 50 * 15 + 1_000 * 0.3 + 10_000 * 3.75 + 20_000 * 6) / 1e6;

describe('1-hour cache writes', () => {
  test('priced with cacheWrite1hPerMTok, the rest of the writes with cacheWritePerMTok; without a 1h price both at cacheWritePerMTok', () => {
    const usage = {
      input_tokens: 0,
      output_tokens: 0,
      cache_read_input_tokens: 0,
      cache_creation_input_tokens: 1_000_000,
      cache_creation_1h_input_tokens: 400_000,
    };
    expect(priceUsage({ cacheWritePerMTok: 3.75, cacheWrite1hPerMTok: 6 }, usage).cacheWrite).toBeCloseTo(0.6 * 3.75 + 0.4 * 6, 12);
    expect(priceUsage({ cacheWritePerMTok: 3.75 }, usage).cacheWrite).toBeCloseTo(3.75, 12);
    // A count past the total (a confused upstream) never makes the 5-minute share negative.
    expect(priceUsage({ cacheWritePerMTok: 1, cacheWrite1hPerMTok: 2 }, { ...usage, cache_creation_1h_input_tokens: 5_000_000 }).cacheWrite).toBeCloseTo(2, 12);
  });

  describe('through the gateway', () => {
    let fake: FakeAnthropic;
    let gw: Gateway;
    const lines: Array<Record<string, any>> = [];
    beforeAll(async () => {
      fake = await startFakeAnthropic();
      gw = await startGateway(snapshotOf(simpleConfig(fake.url, { routeSpec: { pricing: PRICING } })));
      installTelemetry(gw, {}, { accessLogSink: (l) => void lines.push(JSON.parse(l)) });
    });
    afterAll(async () => {
      await gw?.close();
      await fake?.close();
    });

    const post = (stream: boolean) =>
      fetch(`http://127.0.0.1:${gw.trafficPort}/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': CLIENT_KEY },
        body: JSON.stringify({ model: 'claude-test', max_tokens: 8, stream, messages: [{ role: 'user', content: 'hi' }] }),
      });

    test('a JSON reply: the access log and the cost counter charge the 1-hour share at its own price', async () => {
      fake.queue.push({ kind: 'message', message: { ...textMessage('claude-upstream-1', 'ok'), usage: USAGE } });
      const before = lines.length;
      const r = await post(false);
      expect(r.status).toBe(200);
      await r.text();
      await waitFor(() => lines.length > before);
      const line = lines[lines.length - 1];
      expect(line.cache_creation_input_tokens).toBe(30_000);
      expect(line.cache_creation_1h_input_tokens).toBe(20_000);
      expect(line.cost_usd).toBeCloseTo(EXPECTED, 8);
    });

    test('a stream: the counts of message_start (cache) and message_delta (output) are charged the same', async () => {
      const events = textStream('claude-upstream-1', ['a', 'b'], { input_tokens: 100, output_tokens: 50 });
      const start = events[0][1] as any;
      start.message.usage = { ...USAGE, output_tokens: 1 };
      fake.queue.push({ kind: 'stream', events });
      const before = lines.length;
      const r = await post(true);
      expect(await r.text()).toContain('message_stop');
      await waitFor(() => lines.length > before);
      const line = lines[lines.length - 1];
      expect(line.cache_creation_1h_input_tokens).toBe(20_000);
      expect(line.cost_usd).toBeCloseTo(EXPECTED, 8);
    });
  });
});

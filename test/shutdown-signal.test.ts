import { startFakeAnthropic, type FakeAnthropic } from './helpers/fake-anthropic';
import { CLIENT_KEY, simpleConfig } from './helpers/gateway';
import { spawnGateway, writeConfig, type GatewayProcess } from './helpers/gateway-process';
import { waitFor } from './helpers/http-server';

/**
 * Every request in flight listens on the gateway's one shutdown signal (so a drain that runs out
 * can end it as the gateway's doing). Many at once are normal, not a leak: with Node's default cap
 * of 10 listeners per signal the built gateway printed a MaxListenersExceededWarning under any real
 * load (the bench showed it at 32 connections). The gateway runs as its own process here, since
 * jest's sandbox does not raise Node's warning.
 */
describe('the shutdown signal', () => {
  let fake: FakeAnthropic;
  let gw: GatewayProcess;
  let stderr = '';
  beforeAll(async () => {
    fake = await startFakeAnthropic();
    gw = await spawnGateway(writeConfig(simpleConfig(fake.url)));
    gw.child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  });
  afterAll(async () => {
    await gw.stop();
    await fake.close();
  });

  test('30 requests in flight at once raise no MaxListenersExceededWarning', async () => {
    for (let i = 0; i < 30; i++) fake.queue.push({ kind: 'message', delayMs: 1000 });
    const before = fake.received.length;
    const all = Promise.all(
      Array.from({ length: 30 }, async () => {
        const res = await fetch(`${gw.url}/v1/messages`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-api-key': CLIENT_KEY },
          body: JSON.stringify({ model: 'claude-test', max_tokens: 8, messages: [{ role: 'user', content: 'Hi' }] }),
        });
        await res.arrayBuffer();
        return res.status;
      }),
    );
    // All 30 were in flight together (each listening on the signal) before any answered.
    await waitFor(() => fake.received.length - before === 30, 10_000, 'all 30 requests upstream');
    expect(await all).toEqual(Array(30).fill(200));
    expect(stderr).not.toContain('MaxListenersExceededWarning');
  });
});

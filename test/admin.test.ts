import Anthropic from '@anthropic-ai/sdk';
import type { Gateway } from '../gateway/src/gateway';
import { startFakeAnthropic, textStream, type FakeAnthropic } from './helpers/fake-anthropic';
import { CLIENT_KEY, UPSTREAM_KEY, adminURL, baseURL, simpleConfig, snapshotOf, startGateway } from './helpers/gateway';

const auth = { authorization: 'Bearer admin-token', 'content-type': 'application/json' };

describe('admin API: probes and the configuration push', () => {
  let fake: FakeAnthropic;
  let gw: Gateway;

  beforeAll(async () => {
    fake = await startFakeAnthropic();
    gw = await startGateway(undefined);
  });
  afterAll(async () => {
    await gw.close();
    await fake.close();
  });

  test('without a configuration the gateway is alive but not ready, and traffic gets 503', async () => {
    expect((await fetch(`${adminURL(gw)}/healthz`)).status).toBe(200);
    const ready = await fetch(`${adminURL(gw)}/readyz`);
    expect(ready.status).toBe(503);
    const r = await fetch(`${baseURL(gw)}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': CLIENT_KEY, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(r.status).toBe(503);
    expect(((await r.json()) as any).error.type).toBe('overloaded_error');
  });

  test('PUT /admin/config needs the bearer token', async () => {
    const snap = snapshotOf(simpleConfig(fake.url));
    for (const h of [{ 'content-type': 'application/json' }, { ...auth, authorization: 'Bearer wrong' }]) {
      const r = await fetch(`${adminURL(gw)}/admin/config`, { method: 'PUT', headers: h, body: JSON.stringify(snap) });
      expect(r.status).toBe(401);
      expect(((await r.json()) as any).error.type).toBe('authentication_error');
    }
    expect((await fetch(`${adminURL(gw)}/admin/config`)).status).toBe(401);
  });

  test('an invalid snapshot is refused with the offending field', async () => {
    const snap: any = snapshotOf(simpleConfig(fake.url));
    snap.routes[0].targets[0].provider = 'azure';
    const r = await fetch(`${adminURL(gw)}/admin/config`, { method: 'PUT', headers: auth, body: JSON.stringify(snap) });
    expect(r.status).toBe(400);
    expect(((await r.json()) as any).error.message).toContain('routes.0.targets.0.provider');
    expect((await fetch(`${adminURL(gw)}/readyz`)).status).toBe(503);
  });

  test('a valid push makes the gateway ready and serving; equal or older pushes are no-ops', async () => {
    const snap = snapshotOf(simpleConfig(fake.url));
    const r = await fetch(`${adminURL(gw)}/admin/config`, { method: 'PUT', headers: auth, body: JSON.stringify(snap) });
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ applied: true, version: snap.version });
    expect((await fetch(`${adminURL(gw)}/readyz`)).status).toBe(200);
    const client = new Anthropic({ baseURL: baseURL(gw), apiKey: CLIENT_KEY, maxRetries: 0 });
    await client.messages.create({ model: 'claude-test', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] });

    const again = await fetch(`${adminURL(gw)}/admin/config`, { method: 'PUT', headers: auth, body: JSON.stringify(snap) });
    expect(await again.json()).toEqual({ applied: false, version: snap.version });
    const older = { ...snapshotOf(simpleConfig(fake.url, { model: 'other' })), serial: snap.serial - 1000 };
    const stale = await fetch(`${adminURL(gw)}/admin/config`, { method: 'PUT', headers: auth, body: JSON.stringify(older) });
    expect(await stale.json()).toEqual({ applied: false, version: snap.version });
  });

  test('GET /admin/config summarises without secrets', async () => {
    const r = await fetch(`${adminURL(gw)}/admin/config`, { headers: auth });
    expect(r.status).toBe(200);
    const text = await r.text();
    const body = JSON.parse(text);
    expect(body.routes[0]).toMatchObject({ model: 'claude-test', targets: [{ provider: 'anthropic', hasCredentials: true }] });
    expect(body.keys[0].name).toBe('default/team-a');
    expect(text).not.toContain(UPSTREAM_KEY);
    expect(text).not.toContain(CLIENT_KEY);
    expect(text).not.toMatch(/[0-9a-f]{64}/); // no key digests either
  });

  test('a swap is atomic: a stream in flight finishes on the old table while new requests use the new one', async () => {
    fake.queue.push({ kind: 'stream', events: textStream('claude-upstream-1', ['a', 'b', 'c', 'd', 'e']), delayMs: 60 });
    const client = new Anthropic({ baseURL: baseURL(gw), apiKey: CLIENT_KEY, maxRetries: 0 });
    const stream = client.messages.stream({ model: 'claude-test', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] });
    await new Promise((r) => stream.once('text', () => r(undefined)));
    const next = snapshotOf(simpleConfig(fake.url, { model: 'renamed', aliases: [] }));
    const r = await fetch(`${adminURL(gw)}/admin/config`, { method: 'PUT', headers: auth, body: JSON.stringify(next) });
    expect(((await r.json()) as any).applied).toBe(true);
    const final = await stream.finalMessage();
    expect(final.content[0]).toMatchObject({ text: 'abcde' });
    const err = await client.messages.create({ model: 'claude-test', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }).catch((e) => e);
    expect(err).toBeInstanceOf(Anthropic.NotFoundError);
    await client.messages.create({ model: 'renamed', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] });
  });

  test('metrics are served and name the config version', async () => {
    const text = await (await fetch(`${adminURL(gw)}/metrics`)).text();
    expect(text).toContain(`switchyard_config_info{version="${gw.table!.version}"} 1`);
    expect(text).toContain('process_cpu_seconds_total');
  });
});

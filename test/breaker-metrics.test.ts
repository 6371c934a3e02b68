import Anthropic from '@anthropic-ai/sdk';
import type { Gateway } from '../gateway/src/gateway';
import { installTelemetry } from '../gateway/src/telemetry';
import { breakerTargetLabels } from '../gateway/src/telemetry/breaker-metrics';
import { startFakeAnthropic, type FakeAnthropic } from './helpers/fake-anthropic';
import { CLIENT_KEY, UPSTREAM_KEY, adminURL, apiKey, baseURL, modelRoute, secret, snapshotOf, startGateway } from './helpers/gateway';
import { scrape } from './helpers/prom';

/** switchyard_upstream_breaker_open follows a real gateway's breakers as real upstreams fail and recover. */
const ask = { model: 'm', max_tokens: 8, messages: [{ role: 'user' as const, content: 'hi' }] };
// Long enough that the scrape right after the ejection falls inside it on a loaded CI machine.
const COOLDOWN_MS = 4000;

describe('switchyard_upstream_breaker_open', () => {
  let a: FakeAnthropic;
  let b: FakeAnthropic;
  let gw: Gateway;

  beforeAll(async () => {
    a = await startFakeAnthropic();
    b = await startFakeAnthropic();
    gw = await startGateway(
      snapshotOf([
        secret('k', { key: CLIENT_KEY }),
        secret('up', { apiKey: UPSTREAM_KEY }),
        modelRoute('r', {
          model: 'm',
          retry: { attempts: 1 },
          targets: [
            { provider: 'anthropic', model: 'primary', baseURL: a.url, priority: 0, credentialsRef: { name: 'up' } },
            { provider: 'anthropic', model: 'backup', baseURL: b.url, priority: 1 },
          ],
        }),
        apiKey('a', { secretRef: { name: 'k' } }),
      ]),
      { options: { breakerThreshold: 2, breakerCooldownMs: COOLDOWN_MS } },
    );
    installTelemetry(gw, {}, { accessLogSink: null });
  });
  afterAll(async () => {
    await gw?.close();
    await Promise.all([a?.close(), b?.close()]);
  });

  const open = async () => {
    const s = await scrape(adminURL(gw));
    return {
      primary: s.samples.get('switchyard_upstream_breaker_open{route="default/r",target="anthropic/primary"}'),
      backup: s.samples.get('switchyard_upstream_breaker_open{route="default/r",target="anthropic/backup"}'),
      text: s.text,
    };
  };

  test('0 for every configured target, 1 once a target is ejected, 0 again after it recovers; no URL or key in the labels', async () => {
    expect(await open()).toMatchObject({ primary: 0, backup: 0 });
    const c = new Anthropic({ baseURL: baseURL(gw), apiKey: CLIENT_KEY, maxRetries: 0 });
    a.fallback = () => ({ kind: 'error', status: 500, type: 'api_error', message: 'down' });
    for (let i = 0; i < 2; i++) expect((await c.messages.create(ask)).model).toBe('backup');
    const ejected = await open();
    expect(ejected).toMatchObject({ primary: 1, backup: 0 });
    expect(ejected.text).not.toContain(a.url);
    expect(ejected.text).not.toContain(UPSTREAM_KEY);
    // After the cool-down one probe goes to the primary; it succeeds and closes the circuit.
    await new Promise((r) => setTimeout(r, COOLDOWN_MS + 100));
    a.fallback = (r) => ({ kind: 'message', message: { model: r.body.model } });
    expect((await c.messages.create(ask)).model).toBe('primary');
    expect(await open()).toMatchObject({ primary: 0, backup: 0 });
  });

  test('targets that share provider and model are told apart by their position', () => {
    const t = (model: string) => ({
      provider: 'openai' as const,
      model,
      baseURL: 'http://x',
      weight: 1,
      priority: 0,
      connectTimeoutSeconds: 1,
      timeoutSeconds: 1,
      idleTimeoutSeconds: 1,
    });
    expect(breakerTargetLabels([t('a'), t('b'), t('a')])).toEqual(['openai/a#1', 'openai/b', 'openai/a#3']);
  });
});

import type { Gateway } from '../gateway/src/gateway';
import { startFakeAnthropic, type FakeAnthropic } from './helpers/fake-anthropic';
import { apiKey, baseURL, modelRoute, secret, snapshotOf, startGateway } from './helpers/gateway';

describe('API surface: probes and /v1/models', () => {
  let fake: FakeAnthropic;
  let gw: Gateway;
  const get = async (path: string, key = 'sk-all') => {
    const r = await fetch(`${baseURL(gw)}${path}`, { headers: { 'x-api-key': key } });
    return { status: r.status, body: (await r.json()) as any };
  };

  beforeAll(async () => {
    fake = await startFakeAnthropic();
    const route = (name: string, model: string, aliases: string[] = []) =>
      modelRoute(
        name,
        { model, aliases, displayName: name === 'a' ? 'Model A' : undefined, targets: [{ provider: 'anthropic', model: 'up', baseURL: fake.url }] },
        'default',
        `2026-01-0${name.charCodeAt(0) - 96}T00:00:00Z`,
      );
    gw = await startGateway(
      snapshotOf([
        secret('k', { all: 'sk-all', some: 'sk-some' }),
        route('a', 'model-a', ['alias-a']),
        route('b', 'model-b'),
        route('c', 'other-c'),
        apiKey('all', { secretRef: { name: 'k', key: 'all' } }),
        apiKey('some', { secretRef: { name: 'k', key: 'some' }, allowedModels: ['model-*'] }),
      ]),
    );
  });
  afterAll(async () => {
    await gw.close();
    await fake.close();
  });

  test('HEAD / and GET / answer 200 without a key', async () => {
    expect((await fetch(`${baseURL(gw)}/`, { method: 'HEAD' })).status).toBe(200);
    const r = await fetch(`${baseURL(gw)}/`);
    expect(r.status).toBe(200);
    expect(r.headers.get('request-id')).toMatch(/^req_/);
  });

  test('lists names and aliases with Anthropic model objects', async () => {
    const { status, body } = await get('/v1/models');
    expect(status).toBe(200);
    expect(body.data.map((m: any) => m.id)).toEqual(['model-a', 'alias-a', 'model-b', 'other-c']);
    expect(body.data[0]).toEqual({ type: 'model', id: 'model-a', display_name: 'Model A', created_at: '2026-01-01T00:00:00Z' });
    expect(body).toMatchObject({ has_more: false, first_id: 'model-a', last_id: 'other-c' });
  });

  test('only the models the key may use', async () => {
    const { body } = await get('/v1/models', 'sk-some');
    expect(body.data.map((m: any) => m.id)).toEqual(['model-a', 'model-b']);
    expect((await get('/v1/models/other-c', 'sk-some')).status).toBe(403);
    expect((await get('/v1/models/model-b', 'sk-some')).body.id).toBe('model-b');
  });

  test('paging with limit, after_id and before_id', async () => {
    const p1 = (await get('/v1/models?limit=2')).body;
    expect(p1.data.map((m: any) => m.id)).toEqual(['model-a', 'alias-a']);
    expect(p1.has_more).toBe(true);
    const p2 = (await get(`/v1/models?limit=2&after_id=${p1.last_id}`)).body;
    expect(p2.data.map((m: any) => m.id)).toEqual(['model-b', 'other-c']);
    expect(p2.has_more).toBe(false);
    const back = (await get('/v1/models?limit=2&before_id=other-c')).body;
    expect(back.data.map((m: any) => m.id)).toEqual(['alias-a', 'model-b']);
    expect(back.has_more).toBe(true);
  });

  test('bad paging parameters and unknown ids get proper errors', async () => {
    expect((await get('/v1/models?limit=0')).status).toBe(400);
    expect((await get('/v1/models?limit=abc')).status).toBe(400);
    expect((await get('/v1/models?after_id=a&before_id=b')).status).toBe(400);
    const nf = await get('/v1/models/nope');
    expect(nf.status).toBe(404);
    expect(nf.body.error.type).toBe('not_found_error');
    expect((await get('/v1/models', 'sk-wrong')).status).toBe(401);
  });

  test('count_tokens validates its own shape (no max_tokens needed)', async () => {
    const post = (body: unknown) =>
      fetch(`${baseURL(gw)}/v1/messages/count_tokens`, {
        method: 'POST',
        headers: { 'x-api-key': 'sk-all', 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    expect((await post({ model: 'model-a', messages: [{ role: 'user', content: 'x' }] })).status).toBe(200);
    const bad = await post({ model: 'model-a' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as any).error.message).toBe('messages: Field required');
  });
});

import type { Target } from '../gateway/src/core/routes';
import { UpstreamPools, httpSend, readAll } from '../gateway/src/providers/http';
import { Cancellation } from '../gateway/src/core/cancellation';
import { startServer, type TestServer } from './helpers/http-server';
import { compiledTarget } from './helpers/target';

/**
 * An upstream reply's headers as the providers see them: one string per name, a repeated header's
 * values joined with ", " (undici hands repeated ones over as arrays). Real HTTP on loopback.
 */
describe('upstream response headers', () => {
  let up: TestServer;
  const pools = new UpstreamPools();
  let target: Target;

  beforeAll(async () => {
    up = await startServer((req, res) => {
      if (req.url === '/repeated') res.setHeader('x-trace', ['a', 'b']);
      res.setHeader('x-single', 'one');
      res.setHeader('content-type', 'application/json');
      res.end('{}');
    });
    target = compiledTarget(up.url);
  });
  afterAll(async () => {
    await pools.close();
    await up.close();
  });

  const send = async (path: string) => {
    const res = await httpSend(pools, target, { url: up.url + path, method: 'GET', headers: {}, signal: new Cancellation() });
    await readAll(res, target, 1024);
    return res.headers;
  };

  test('a repeated header arrives as one value joined with ", "; single ones as sent', async () => {
    const h = await send('/repeated');
    expect(h['x-trace']).toBe('a, b');
    expect(h['x-single']).toBe('one');
    expect(Object.values(h).every((v) => typeof v === 'string')).toBe(true);
  });

  test('a reply without repeated headers has every value a string', async () => {
    const h = await send('/plain');
    expect(h['x-trace']).toBeUndefined();
    expect(h['x-single']).toBe('one');
    expect(h['content-type']).toBe('application/json');
    expect(Object.values(h).every((v) => typeof v === 'string')).toBe(true);
  });
});

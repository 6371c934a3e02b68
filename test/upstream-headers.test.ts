import { loopbackUpstream } from './helpers/loopback-upstream';

/**
 * An upstream reply's headers as the providers see them: one string per name, a repeated header's
 * values joined with ", " (undici hands repeated ones over as arrays). Real HTTP on loopback.
 */
describe('upstream response headers', () => {
  const up = loopbackUpstream((req, res) => {
    if (req.url === '/repeated') res.setHeader('x-trace', ['a', 'b']);
    res.setHeader('x-single', 'one');
    res.setHeader('content-type', 'application/json');
    res.end('{}');
  });

  const send = async (path: string) => (await up.get(up.server.url + path)).headers;

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

import { request } from 'undici';
import { httpSend, urlParts } from '../gateway/src/providers/http';
import { Cancellation } from '../gateway/src/core/cancellation';
import { UpstreamFailure } from '../gateway/src/core/upstream';
import { loopbackUpstream } from './helpers/loopback-upstream';

/**
 * httpSend hands undici's dispatcher the origin and path of each URL parsed once and kept, instead
 * of `request(url)` parsing it on every call: the request line an upstream receives must be the
 * one undici's own `request(url)` sends, for every query string a client can pass through. Real
 * HTTP on loopback, undici's request() beside ours.
 */
describe('upstream URL', () => {
  const seen: string[] = [];
  const up = loopbackUpstream((req, res) => {
    seen.push(`${req.headers.host} ${req.url}`);
    res.setHeader('content-type', 'application/json');
    res.end('{}');
  });

  const ours = async (url: string) => {
    await up.get(url);
    return seen[seen.length - 1];
  };
  const undicis = async (url: string) => {
    const res = await request(url, { method: 'GET' });
    await res.body.text();
    return seen[seen.length - 1];
  };

  const PATHS = [
    '/v1/messages',
    '/v1/messages?beta=true',
    '/v1/messages?',
    '/v1/messages?a=1&b=%7C|^`{}"<>',
    '/v1/messages?q=%zz&x=\u00e9\u65e5',
    '/v1/messages?#frag',
    '/v1/./messages/../messages?x=1',
    '/v1/messages/count_tokens?beta=true',
  ];

  test('each URL reaches the upstream as undici request(url) sends it, the first time and from the cache', async () => {
    for (const p of PATHS) {
      const url = up.server.url + p;
      const expected = await undicis(url);
      expect(await ours(url)).toBe(expected);
      expect(await ours(url)).toBe(expected);
    }
  });

  test('past the cache bound of 1,000 URLs (a client varying its query string), each URL is still sent right', async () => {
    for (let i = 0; i < 1100; i++) expect(urlParts(`${up.server.url}/v1/messages?n=${i}`)?.path).toBe(`/v1/messages?n=${i}`);
    expect(await ours(`${up.server.url}/v1/messages?n=last`)).toBe(`127.0.0.1:${up.server.port} /v1/messages?n=last`);
  });

  test('a URL undici refuses is not kept, and fails as it did', async () => {
    for (const url of ['ftp://127.0.0.1/v1/messages', 'not a url']) {
      expect(urlParts(url)).toBeUndefined();
      await expect(httpSend(up.pools, up.target, { url, method: 'GET', headers: {}, signal: new Cancellation() })).rejects.toBeInstanceOf(UpstreamFailure);
    }
  });
});

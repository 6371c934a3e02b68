import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Agent, errors, request } from 'undici';
import { IdlePool } from '../gateway/src/providers/idle-pool';
import { startServer, waitFor, type TestServer } from './helpers/http-server';

/**
 * The per-origin upstream pool (gateway/src/providers/idle-pool.ts) over real loopback HTTP: one
 * request per connection at a time, keep-alive reuse, dead connections dropped, close and destroy.
 */
const CLIENT_OPTIONS = { keepAliveTimeout: 30_000, keepAliveMaxTimeout: 120_000, pipelining: 1 };

describe('IdlePool', () => {
  let up: TestServer;
  /** Sockets the server has seen, in order, and those open now. */
  let sockets: Socket[];
  const open = new Set<Socket>();
  /** Requests held until the test releases them (path /hold). */
  let held: ServerResponse[];
  let pool: IdlePool;

  beforeAll(async () => {
    up = await startServer((req: IncomingMessage, res: ServerResponse) => {
      req.resume();
      req.on('end', () => {
        if (req.url === '/hold') held.push(res);
        else res.writeHead(200, { 'content-type': 'text/plain' }).end(String(sockets.indexOf(req.socket)));
      });
    });
    up.server.on('connection', (s: Socket) => {
      sockets.push(s);
      open.add(s);
      s.on('close', () => open.delete(s));
    });
  });
  afterAll(() => up.close());
  beforeEach(() => {
    sockets = [];
    held = [];
    pool = new IdlePool(up.url, CLIENT_OPTIONS);
  });
  afterEach(async () => {
    for (const res of held) res.end();
    await pool.destroy().catch(() => undefined);
    up.server.closeAllConnections();
  });

  /** A GET through the pool; resolves to the index of the server-side connection that served it. */
  const get = async (path = '/') => {
    const res = await request(`${up.url}${path}`, { dispatcher: pool });
    return res.body.text();
  };

  /** undici frees a connection a full event-loop turn after its reply ends (then it is reusable). */
  const settled = (free: number) => waitFor(() => pool.free === free, 5000, `${free} connection(s) free`);

  test('N concurrent requests use N connections; when they end, the connections are reused', async () => {
    const N = 6;
    const replies = Array.from({ length: N }, () => get('/hold'));
    await waitFor(() => held.length === N, 10_000, `${N} requests held at once`);
    expect(sockets).toHaveLength(N);
    expect(pool.size).toBe(N);
    expect(pool.free).toBe(0);
    for (const res of held) res.end('x');
    expect(await Promise.all(replies)).toEqual(Array(N).fill('x'));
    await settled(N);
    // N more at once: no new connection.
    held = [];
    const again = Array.from({ length: N }, () => get('/hold'));
    await waitFor(() => held.length === N, 10_000, `${N} requests held again`);
    expect(sockets).toHaveLength(N);
    for (const res of held) res.end('y');
    expect(await Promise.all(again)).toEqual(Array(N).fill('y'));
  });

  test('sequential requests keep using one kept-alive connection', async () => {
    for (let i = 0; i < 5; i++) {
      expect(await get()).toBe('0');
      await settled(1);
    }
    expect(sockets).toHaveLength(1);
    expect(pool.size).toBe(1);
  });

  test('the most recently freed connection is reused first, so the surplus can idle out', async () => {
    const first = get('/hold');
    const second = get('/hold');
    await waitFor(() => held.length === 2, 5000, 'two requests held');
    held[0].end('a');
    await first;
    held[1].end('b');
    await second;
    await settled(2);
    const lastFreed = String(sockets.indexOf(held[1].req.socket!));
    for (let i = 0; i < 3; i++) {
      expect(await get()).toBe(lastFreed);
      await settled(2);
    }
  });

  test('a free connection the upstream closes is dropped, and the next request opens a new one', async () => {
    expect(await get()).toBe('0');
    await settled(1);
    up.server.closeAllConnections();
    await waitFor(() => pool.size === 0, 5000, 'the closed connection dropped from the pool');
    expect(await get()).toBe('1');
    expect(pool.size).toBe(1);
  });

  test('a connection that dies under a request is not reused', async () => {
    const reply = get('/hold');
    await waitFor(() => held.length === 1, 5000, 'the request held');
    held[0].socket!.destroy();
    held = [];
    await expect(reply).rejects.toMatchObject({ code: 'UND_ERR_SOCKET' });
    await waitFor(() => pool.size === 0, 5000, 'the dead connection dropped');
    expect(await get()).toBe('1');
  });

  test('a refused connection fails its request and leaves nothing behind', async () => {
    const dead = await startServer(() => undefined);
    const url = dead.url;
    await dead.close();
    const p = new IdlePool(url, CLIENT_OPTIONS);
    const seen: Error[] = [];
    p.on('connectionError', (_origin, targets, err) => {
      expect(targets[0]).toBe(p);
      seen.push(err);
    });
    await expect(request(url, { dispatcher: p })).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect(seen).toHaveLength(1);
    expect(p.size).toBe(0);
    await p.close();
  });

  test('a request the client refuses outright does not cost the pool its connection', async () => {
    expect(await get()).toBe('0');
    await settled(1);
    // undici rejects a header value with a line break before anything is sent.
    await expect(request(up.url, { dispatcher: pool, headers: { 'x-bad': 'a\r\nb' } })).rejects.toBeInstanceOf(errors.InvalidArgumentError);
    expect(pool.free).toBe(1);
    expect(await get()).toBe('0');
    await settled(1);
    expect(sockets).toHaveLength(1);
  });

  test("'connect' and 'disconnect' name the pool first, as undici's Pool does (the Agent counts them)", async () => {
    const events: string[] = [];
    pool.on('connect', (_o, targets) => events.push(`connect ${targets[0] === pool}`));
    pool.on('disconnect', (_o, targets) => events.push(`disconnect ${targets[0] === pool}`));
    await get();
    up.server.closeAllConnections();
    await waitFor(() => events.length === 2, 5000, 'connect and disconnect');
    expect(events).toEqual(['connect true', 'disconnect true']);
  });

  test('close lets requests in flight finish, then refuses new ones', async () => {
    const reply = get('/hold');
    await waitFor(() => held.length === 1, 5000, 'the request held');
    let closed = false;
    const closing = pool.close().then(() => (closed = true));
    await expect(get()).rejects.toBeInstanceOf(errors.ClientClosedError);
    expect(closed).toBe(false);
    held[0].end('done');
    expect(await reply).toBe('done');
    await closing;
    await waitFor(() => open.size === 0, 5000, 'the connection closed');
  });

  test('destroy fails requests in flight and closes their connections', async () => {
    const reply = get('/hold');
    await waitFor(() => held.length === 1, 5000, 'the request held');
    const boom = new Error('shutting down');
    await pool.destroy(boom);
    await expect(reply).rejects.toBe(boom);
    await expect(get()).rejects.toBeInstanceOf(errors.ClientDestroyedError);
    await waitFor(() => open.size === 0, 5000, 'the connection closed');
  });

  test("as an Agent's per-origin pool: concurrent requests, reuse, and the Agent's close", async () => {
    let made: IdlePool | undefined;
    const agent = new Agent({ factory: (origin) => (made = new IdlePool(origin, CLIENT_OPTIONS)) });
    const replies = [0, 1, 2].map(() => request(`${up.url}/hold`, { dispatcher: agent }).then((r) => r.body.text()));
    await waitFor(() => held.length === 3, 5000, 'three requests held');
    for (const res of held) res.end('z');
    expect(await Promise.all(replies)).toEqual(['z', 'z', 'z']);
    await waitFor(() => made?.free === 3, 5000, 'three connections free');
    const r = await request(up.url, { dispatcher: agent });
    expect(['0', '1', '2']).toContain(await r.body.text());
    expect(sockets).toHaveLength(3);
    await agent.close();
    await waitFor(() => open.size === 0, 5000, 'every connection closed');
  });
});

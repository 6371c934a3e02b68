/**
 * FinishQueueKoa (gateway/src/api/finish-queue.ts): Koa's on-finished callbacks, queued on one
 * shared `close` listener instead of ee-first's listeners held on every open response and its
 * socket, still run once when the response is done. Plain Koa is the yardstick, over real HTTP.
 */
import { createServer, request, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { FinishQueueKoa } from '../gateway/src/api/finish-queue';

interface Seen {
  finish: number;
  socketError: number;
  socketClose: number;
  res?: ServerResponse;
}

async function serve(app: Koa): Promise<{ server: Server; port: number }> {
  const server = createServer(app.callback());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port };
}

/** A GET's whole body as text. */
function getText(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path }, (res) => {
      let text = '';
      res
        .setEncoding('utf8')
        .on('data', (c) => (text += c))
        .on('end', () => resolve(text));
    })
      .on('error', reject)
      .end();
  });
}

/** Opens a response that stays open (as a relayed stream does) and reports the listeners on it and its socket while open. */
async function openResponseListeners(app: Koa): Promise<Seen> {
  let seen: Seen | undefined;
  app.use(async (ctx) => {
    ctx.respond = false;
    ctx.res.writeHead(200, { 'content-type': 'text/plain' });
    ctx.res.write('open\n');
    const { res } = ctx;
    seen = { finish: res.listenerCount('finish'), socketError: res.socket!.listenerCount('error'), socketClose: res.socket!.listenerCount('close'), res };
    setTimeout(() => res.end('done\n'), 50);
  });
  const { server, port } = await serve(app);
  try {
    const body = await getText(port, '/');
    expect(body).toBe('open\ndone\n');
  } finally {
    server.close();
  }
  return seen!;
}

test('an open response carries fewer listeners, on it and on its socket, than under plain Koa', async () => {
  const plain = await openResponseListeners(new Koa());
  const queued = await openResponseListeners(new FinishQueueKoa());
  // on-finished's ee-first listeners: 'finish' on the response, 'error' and 'close' on its socket.
  expect(queued.finish).toBeLessThan(plain.finish);
  expect(queued.socketError).toBeLessThan(plain.socketError);
  expect(queued.socketClose).toBeLessThanOrEqual(plain.socketClose);
});

test('on-finished callbacks, registered as Koa registers them, run once when the response is done: sent to its end, or left by its client', async () => {
  // The library Koa's application and response modules call, as they call it.
  const onFinished: (res: ServerResponse, cb: (err: unknown, res: ServerResponse) => void) => void = require('on-finished');
  const calls: Record<string, { err: unknown; same: boolean }[]> = { '/complete': [], '/leave': [] };
  const app = new FinishQueueKoa();
  app.silent = true;
  app.use(async (ctx) => {
    const path = ctx.path;
    const res = ctx.res;
    onFinished(res, (err, r) => calls[path].push({ err, same: r === res }));
    if (path === '/complete') {
      ctx.body = 'all\n';
      return;
    }
    // Left open, as a relayed stream is, until the client goes.
    ctx.respond = false;
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('part\n');
  });
  const { server, port } = await serve(app);
  try {
    const text = await getText(port, '/complete');
    expect(text).toBe('all\n');
    await new Promise<void>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/leave' }, (res) => {
        res.once('data', () => {
          expect(calls['/leave']).toEqual([]);
          req.destroy();
          resolve();
        });
      }).on('error', (err) => (req.destroyed ? undefined : reject(err)));
      req.end();
    });
    const deadline = Date.now() + 10_000;
    while ((calls['/complete'].length === 0 || calls['/leave'].length === 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    // Give a second call, were there one, the time to happen.
    await new Promise((r) => setTimeout(r, 100));
    expect(calls['/complete']).toEqual([{ err: null, same: true }]);
    expect(calls['/leave']).toEqual([{ err: null, same: true }]);
  } finally {
    server.close();
  }
});

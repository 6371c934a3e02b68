// What the design card's stack costs before any gateway feature: Koa with @koa/router, the
// gateway's own body reader, JSON parse and ajv validation, a SHA-256 key check, an undici
// keep-alive pool, and the reply relayed (JSON buffered, SSE piped). No routing table, limits,
// metrics, access log, usage accounting or stream parsing. Compare with the bare proxy (the
// floor of any Node proxy) and the gateway (everything on) in the passthrough group.
const { createHash, timingSafeEqual } = require('node:crypto');
const path = require('node:path');
const Koa = require('koa');
const Router = require('@koa/router');
const { Agent, request } = require('undici');
const dist = path.join(__dirname, '..', 'dist', 'gateway', 'src', 'api');
const { readBody, parseJsonObject } = require(path.join(dist, 'body.js'));
const { validateRequest } = require(path.join(dist, 'validate.js'));

const [port, upstream, clientKey] = [Number(process.argv[2] || 0), process.argv[3], process.argv[4]];
const digest = createHash('sha256').update(clientKey).digest();
const agent = new Agent({ keepAliveTimeout: 30_000 });
const app = new Koa();
const router = new Router();
router.post('/v1/messages', async (ctx) => {
  const presented = createHash('sha256').update(ctx.get('x-api-key'), 'utf8').digest();
  if (!timingSafeEqual(presented, digest)) ctx.throw(401);
  const raw = await readBody(ctx.req, { maxBytes: 32 << 20, idleTimeoutMs: 30_000 });
  validateRequest('messages', parseJsonObject(raw, ctx.get('content-type')));
  const res = await request(upstream + ctx.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': 'upstream', 'anthropic-version': '2023-06-01' },
    body: raw,
    dispatcher: agent,
  });
  ctx.status = res.statusCode;
  ctx.type = res.headers['content-type'];
  if (ctx.type === 'text/event-stream') {
    // A client gone mid-stream makes Koa destroy the body, which then errors: nothing to do.
    res.body.on('error', () => {});
    ctx.body = res.body;
  } else ctx.body = Buffer.from(await res.body.arrayBuffer());
});
app.use(router.routes());
const server = app.listen(port, '127.0.0.1', () => process.send?.({ port: server.address().port }));
server.keepAliveTimeout = 65_000;

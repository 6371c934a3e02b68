import { createHash, timingSafeEqual } from 'node:crypto';
import type Koa from 'koa';
import type { CallContext } from './call';
import type { GatewayDeps } from './deps';
import { GatewayError, invalidRequest } from './errors';

const unauthorized = (message: string) => new GatewayError(401, 'authentication_error', message);

/**
 * Client keys: `x-api-key`, or `Authorization: Bearer` (what ANTHROPIC_AUTH_TOKEN sends). Only
 * SHA-256 digests are configured; the presented key is hashed, the digest looked up, and the
 * match confirmed with timingSafeEqual, so the comparison never depends on how much of a key is right.
 */
export function authenticate(deps: GatewayDeps): Koa.Middleware {
  return async (ctx, next) => {
    const call: CallContext = ctx.state.call;
    const table = deps.table();
    if (!table) throw new GatewayError(503, 'overloaded_error', 'gateway has no configuration yet; retry shortly', { 'retry-after': '1' });
    call.table = table;
    const presented = presentedKey(ctx);
    const digest = createHash('sha256').update(presented, 'utf8').digest();
    const key = table.keyByDigest(digest.toString('hex'));
    if (!key || !timingSafeEqual(key.digest, digest)) throw unauthorized('invalid x-api-key');
    if (key.disabled) throw unauthorized('this API key is disabled');
    if (key.expiresAt && Date.parse(key.expiresAt) <= deps.now()) throw unauthorized(`this API key expired at ${key.expiresAt}`);
    call.key = key;
    await next();
  };
}

function presentedKey(ctx: Koa.Context): string {
  const xKey = ctx.req.headersDistinct['x-api-key'];
  if (xKey && xKey.length > 1) throw invalidRequest('x-api-key header was sent more than once');
  if (xKey && xKey[0] !== '') return xKey[0];
  const auth = ctx.req.headersDistinct['authorization'];
  if (auth && auth.length > 1) throw invalidRequest('authorization header was sent more than once');
  if (auth) {
    const m = /^Bearer\s+(\S.*)$/i.exec(auth[0].trim());
    if (!m) throw unauthorized('authorization header must be "Bearer <key>"');
    return m[1];
  }
  throw unauthorized('x-api-key header is required');
}

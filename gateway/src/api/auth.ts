import { createHash, timingSafeEqual } from 'node:crypto';
import type Koa from 'koa';
import type { CallContext } from '../core/call';
import type { GatewayDeps } from './deps';
import { GatewayError, invalidRequest } from '../core/errors';
import { JWT_SHAPE, ServiceAccountTokens, TokenRefused, type ServiceAccountIdentity } from './sa-tokens';
import type { ApiKey, RoutingTable } from '../core/routes';

const unauthorized = (message: string) => new GatewayError(401, 'authentication_error', message);

/**
 * Client keys: `x-api-key`, or `Authorization: Bearer` (what ANTHROPIC_AUTH_TOKEN sends). Only
 * SHA-256 digests are configured; the presented key is hashed, the digest looked up, and the
 * match confirmed with timingSafeEqual, so the comparison never depends on how much of a key is right.
 * A credential shaped like a JWT, when the configuration accepts ServiceAccount tokens, is one:
 * it is verified (or found in the verdict cache by the same digest) and mapped to the ApiKey that
 * admits its ServiceAccount.
 */
export function authenticate(deps: GatewayDeps): Koa.Middleware {
  const tokens = serviceAccountTokens(deps);
  return async (ctx, next) => {
    const call: CallContext = ctx.state.call;
    const table = deps.table();
    if (!table) throw new GatewayError(503, 'overloaded_error', 'gateway has no configuration yet; retry shortly', { 'retry-after': '1' });
    call.table = table;
    const presented = presentedKey(ctx);
    const digest = createHash('sha256').update(presented, 'utf8').digest();
    let key: ApiKey | undefined;
    const verifier = table.snapshot.serviceAccountAuth && JWT_SHAPE.test(presented) ? tokens(table) : undefined;
    if (verifier) {
      const hex = digest.toString('hex');
      let id: ServiceAccountIdentity | undefined = verifier.cached(hex);
      if (!id) {
        try {
          id = await verifier.verify(presented, hex);
        } catch (err) {
          if (err instanceof TokenRefused) throw unauthorized(err.message);
          throw err;
        }
      }
      call.serviceAccount = `${id.namespace}/${id.name}`;
      key = table.keyByServiceAccount(id.namespace, id.name);
      if (!key) throw unauthorized(`ServiceAccount ${call.serviceAccount} is not admitted by any ApiKey`);
    } else {
      key = table.keyByDigest(digest.toString('hex'));
      if (!key || !timingSafeEqual(key.digest, digest)) throw unauthorized('invalid x-api-key');
    }
    if (key.disabled) throw unauthorized('this API key is disabled');
    if (key.expiresAt && Date.parse(key.expiresAt) <= deps.now()) throw unauthorized(`this API key expired at ${key.expiresAt}`);
    call.key = key;
    await next();
  };
}

/**
 * One verifier (and verdict cache) per distinct issuer/audience/key set. Snapshots that change
 * only routes or keys keep it, so pushes do not make every client's token be verified again.
 */
function serviceAccountTokens(deps: GatewayDeps): (table: RoutingTable) => ServiceAccountTokens {
  let lastTable: RoutingTable | undefined;
  let fingerprint = '';
  let verifier: ServiceAccountTokens | undefined;
  return (table) => {
    if (table !== lastTable) {
      lastTable = table;
      const auth = table.snapshot.serviceAccountAuth!;
      const fp = JSON.stringify(auth);
      if (fp !== fingerprint || !verifier) {
        fingerprint = fp;
        verifier = new ServiceAccountTokens(auth, deps.now);
      }
    }
    return verifier!;
  };
}

function presentedKey(ctx: Koa.Context): string {
  const [xKey, xKeys] = headerOnce(ctx.req.rawHeaders, 'x-api-key');
  if (xKeys > 1) throw invalidRequest('x-api-key header was sent more than once');
  if (xKey) return xKey;
  const [auth, auths] = headerOnce(ctx.req.rawHeaders, 'authorization');
  if (auths > 1) throw invalidRequest('authorization header was sent more than once');
  if (auths) {
    const m = /^Bearer\s+(\S.*)$/i.exec(auth!.trim());
    if (!m) throw unauthorized('authorization header must be "Bearer <key>"');
    return m[1];
  }
  throw unauthorized('x-api-key header is required');
}

/**
 * A header's value and how many times it was sent, from the raw list: `headersDistinct` would do,
 * but it builds (and keeps on the request, for its whole life) an array for every header.
 */
function headerOnce(raw: string[], name: string): [string | undefined, number] {
  let value: string | undefined;
  let n = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i];
    if (k.length === name.length && k.toLowerCase() === name) {
      value ??= raw[i + 1];
      n++;
    }
  }
  return [value, n];
}

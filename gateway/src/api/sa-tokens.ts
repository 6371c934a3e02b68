import { createLocalJWKSet, decodeJwt, errors, jwtVerify, type JSONWebKeySet, type JWTPayload } from 'jose';
import type { ServiceAccountAuth } from '../config/snapshot';

/** Three base64url segments: what a JWT looks like. Anything else is an API key. */
export const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/** Legacy Secret-based tokens carry this issuer (and no exp, and the API server's audience). */
const LEGACY_ISSUER = 'kubernetes/serviceaccount';

// Kubernetes signs with RS256 (sometimes ES256); pinning asymmetric algorithms keeps a key set
// from ever being used as an HMAC secret.
const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512'];

/** Clocks of the API server and the gateway differ a little. */
export const CLOCK_SKEW_SECONDS = 30;

export interface ServiceAccountIdentity {
  namespace: string;
  name: string;
  /** Token expiry, ms since the epoch: the verdict is cached until then. */
  expMs: number;
}

/** Why a token was refused; the message is for the client and never quotes the token. */
export class TokenRefused extends Error {}

/**
 * Verifies projected ServiceAccount tokens offline against one issuer's keys and remembers each
 * verdict by the token's SHA-256 until the token expires, so a client re-sending its token costs
 * one hash and one map lookup. Built per ServiceAccountAuth: new keys make a new verifier (and an
 * empty cache), so a key the issuer withdrew stops admitting tokens at once.
 */
export class ServiceAccountTokens {
  private readonly keySet;
  private readonly cache = new Map<string, ServiceAccountIdentity>();

  constructor(
    private readonly auth: ServiceAccountAuth,
    private readonly now: () => number,
    private readonly maxEntries = 10_000,
  ) {
    this.keySet = createLocalJWKSet(auth.jwks as unknown as JSONWebKeySet);
  }

  /** The cached identity for a token digest, if it is still unexpired. */
  cached(digestHex: string): ServiceAccountIdentity | undefined {
    const hit = this.cache.get(digestHex);
    if (!hit) return undefined;
    if (hit.expMs > this.now()) return hit;
    this.cache.delete(digestHex);
    return undefined;
  }

  async verify(token: string, digestHex: string): Promise<ServiceAccountIdentity> {
    let unverified: JWTPayload;
    try {
      unverified = decodeJwt(token);
    } catch {
      throw new TokenRefused('malformed ServiceAccount token');
    }
    // Judged before the signature: the reason a legacy token is refused is its kind, whoever signed it.
    if (unverified.iss === LEGACY_ISSUER || unverified.exp === undefined) {
      throw new TokenRefused(`legacy ServiceAccount token (Secret-based, no expiry) refused: mount a projected token with audience '${this.auth.audience}'`);
    }
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.keySet, {
        issuer: this.auth.issuer,
        audience: this.auth.audience,
        algorithms: ALGORITHMS,
        clockTolerance: CLOCK_SKEW_SECONDS,
        currentDate: new Date(this.now()),
        requiredClaims: ['exp', 'sub'],
      }));
    } catch (err) {
      throw new TokenRefused(this.reason(err));
    }
    const id = identityOf(payload);
    if (!id) throw new TokenRefused('ServiceAccount token names no ServiceAccount (sub is not system:serviceaccount:<namespace>:<name>)');
    this.remember(digestHex, id);
    return id;
  }

  private reason(err: unknown): string {
    if (err instanceof errors.JWTExpired) return 'ServiceAccount token expired';
    if (err instanceof errors.JWTClaimValidationFailed) {
      if (err.claim === 'nbf' || err.claim === 'iat') return 'ServiceAccount token is not yet valid';
      if (err.claim === 'aud') return `ServiceAccount token is for another audience (this gateway accepts '${this.auth.audience}')`;
      if (err.claim === 'iss') return `ServiceAccount token is from another issuer (this gateway accepts '${this.auth.issuer}')`;
      return `ServiceAccount token claim ${err.claim} is invalid`;
    }
    if (err instanceof errors.JWSSignatureVerificationFailed) return 'ServiceAccount token signature is invalid';
    if (err instanceof errors.JWKSNoMatchingKey)
      return "ServiceAccount token is signed with a key this gateway does not know yet (the issuer's keys are refreshed periodically)";
    if (err instanceof errors.JOSEAlgNotAllowed) return 'ServiceAccount token uses a signing algorithm that is not accepted';
    return 'malformed ServiceAccount token';
  }

  private remember(digestHex: string, id: ServiceAccountIdentity): void {
    if (id.expMs <= this.now()) return;
    if (this.cache.size >= this.maxEntries) {
      const now = this.now();
      for (const [k, v] of this.cache) if (v.expMs <= now) this.cache.delete(k);
      // Still full of live tokens: drop the oldest verdicts (Map order is insertion order).
      for (const k of this.cache.keys()) {
        if (this.cache.size < this.maxEntries) break;
        this.cache.delete(k);
      }
    }
    this.cache.set(digestHex, id);
  }

  get size(): number {
    return this.cache.size;
  }
}

/** `sub` is `system:serviceaccount:<namespace>:<name>`; the `kubernetes.io` claim, when present, must agree. */
function identityOf(p: JWTPayload): ServiceAccountIdentity | undefined {
  const m = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(p.sub ?? '');
  if (!m) return undefined;
  const k8s = p['kubernetes.io'] as { namespace?: unknown; serviceaccount?: { name?: unknown } } | undefined;
  if (k8s && (k8s.namespace !== m[1] || (k8s.serviceaccount && k8s.serviceaccount.name !== m[2]))) return undefined;
  return { namespace: m[1], name: m[2], expMs: p.exp! * 1000 };
}

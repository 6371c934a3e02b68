import { SignJWT, exportJWK, generateKeyPair, type KeyLike } from 'jose';
import { randomUUID } from 'node:crypto';

export const ISSUER = 'https://kubernetes.default.svc.cluster.local';

export interface SigningKey {
  kid: string;
  alg: 'RS256' | 'ES256';
  privateKey: KeyLike;
  jwk: Record<string, unknown>;
}

/** A signing key the test owns, like the API server's service-account key (RS256 by default). */
export async function signingKey(kid: string, alg: 'RS256' | 'ES256' = 'RS256'): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg);
  const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { kid, alg, privateKey, jwk };
}

export const jwksOf = (...keys: SigningKey[]) => ({ keys: keys.map((k) => k.jwk) });

export interface MintOptions {
  namespace?: string;
  name?: string;
  audience?: string | string[];
  issuer?: string;
  /** Seconds since the epoch. */
  now?: number;
  /** Lifetime from `now`, seconds (negative: already expired). */
  expiresIn?: number;
  /** nbf relative to `now`, seconds. */
  notBefore?: number;
  /** A legacy Secret-based token: iss kubernetes/serviceaccount, no exp, no aud. */
  legacy?: boolean;
}

/** A projected ServiceAccount token with the claims kube-apiserver puts in one. */
export async function mintToken(key: SigningKey, o: MintOptions = {}): Promise<string> {
  const ns = o.namespace ?? 'team-a';
  const name = o.name ?? 'support-bot';
  const now = o.now ?? Math.floor(Date.now() / 1000);
  if (o.legacy) {
    return new SignJWT({ 'kubernetes.io/serviceaccount/namespace': ns, 'kubernetes.io/serviceaccount/service-account.name': name })
      .setProtectedHeader({ alg: key.alg, kid: key.kid })
      .setIssuer('kubernetes/serviceaccount')
      .setSubject(`system:serviceaccount:${ns}:${name}`)
      .sign(key.privateKey);
  }
  return new SignJWT({
    'kubernetes.io': {
      namespace: ns,
      serviceaccount: { name, uid: randomUUID() },
      pod: { name: `${name}-7c9d-abcde`, uid: randomUUID() },
      node: { name: 'node-1', uid: randomUUID() },
    },
  })
    .setProtectedHeader({ alg: key.alg, kid: key.kid })
    .setIssuer(o.issuer ?? ISSUER)
    .setSubject(`system:serviceaccount:${ns}:${name}`)
    .setAudience(o.audience ?? ['switchyard'])
    .setIssuedAt(now)
    .setNotBefore(now + (o.notBefore ?? 0))
    .setExpirationTime(now + (o.expiresIn ?? 3600))
    .setJti(randomUUID())
    .sign(key.privateKey);
}

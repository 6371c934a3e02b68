import { createHash } from 'node:crypto';
import type { Target } from '../../core/routes';
import { bedrockAuth, type AwsCredentialSource, type BedrockAuth } from './credentials';

/**
 * One authenticator per target, kept across requests and configuration reloads: the default
 * chain's credentials (an STS exchange under IRSA) are cached inside it, so building one per
 * request would call STS per request. Keyed by the target's stable id, and rebuilt when what it
 * signs with changes (the id does not cover the secret key or the region).
 */
const cache = new Map<string, { fingerprint: string; auth: BedrockAuth }>();
/** Targets come and go with configuration; past this many the oldest entry goes. */
const MAX_ENTRIES = 256;

/** Targets are immutable within a snapshot: after the first request, one lookup by object. */
const byTarget = new WeakMap<Target, BedrockAuth>();

export function authFor(target: Target): BedrockAuth {
  const known = byTarget.get(target);
  if (known) return known;
  const source = sourceOf(target);
  const region = target.region ?? regionOf(target.baseURL);
  // Hashed, so the map does not keep a second copy of the secret key around.
  const fingerprint = createHash('sha256')
    .update(JSON.stringify([source, region]))
    .digest('hex');
  const hit = cache.get(target.id);
  let auth: BedrockAuth;
  if (hit && hit.fingerprint === fingerprint) {
    auth = hit.auth;
  } else {
    auth = bedrockAuth(source, region);
    cache.delete(target.id);
    cache.set(target.id, { fingerprint, auth });
    if (cache.size > MAX_ENTRIES) cache.delete(cache.keys().next().value!);
  }
  byTarget.set(target, auth);
  return auth;
}

/** Static keys from the Secret, else a Bedrock API key from it, else the pod's own identity. */
export function sourceOf(target: Target): AwsCredentialSource {
  if (target.aws) return { kind: 'static', ...target.aws };
  if (target.apiKey) return { kind: 'apiKey', apiKey: target.apiKey };
  return { kind: 'chain' };
}

/**
 * compile() requires `region`; a snapshot written by hand may leave it out, and then the endpoint
 * names it (`bedrock-runtime.<region>.amazonaws.com`). AWS's own default region is the last resort.
 */
function regionOf(baseURL: string): string {
  return /\bbedrock-runtime(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com/.exec(baseURL)?.[1] ?? 'us-east-1';
}

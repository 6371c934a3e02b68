import { Sha256 } from '@aws-crypto/sha256-js';
import { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';
import { CredentialError, safeDetail } from '../credential-error';

export { CredentialError } from '../credential-error';

/**
 * How the gateway authenticates to Bedrock: static keys from a Secret, a Bedrock API key (Bearer,
 * no SigV4), or the pod's own identity through the AWS SDK's default chain (env, IRSA web
 * identity, EKS Pod Identity, instance role).
 */
export type AwsCredentialSource =
  { kind: 'static'; accessKeyId: string; secretAccessKey: string; sessionToken?: string } | { kind: 'apiKey'; apiKey: string } | { kind: 'chain' };

/** Describes a source for messages and logs. */
export function describeAwsSource(source: AwsCredentialSource): string {
  switch (source.kind) {
    case 'static':
      return 'static AWS keys (Secret)';
    case 'apiKey':
      return 'Bedrock API key (Secret)';
    case 'chain':
      return 'AWS default credential chain (env, web identity, Pod Identity, instance role)';
  }
}

/** Refresh this long before expiry, so a request never goes out with credentials about to lapse. */
export const REFRESH_MARGIN_MS = 5 * 60 * 1000;

/**
 * Caches what `inner` resolves until REFRESH_MARGIN_MS before its expiration; concurrent callers
 * share one refresh. A failure is not cached: the next request tries again. A refresh asks for
 * `forceRefresh`: the SDK's default chain otherwise answers a credential inside its own 5-minute
 * window with the old one and refreshes in the background, so new keys would arrive a request late.
 */
export function cachedCredentials(inner: AwsCredentialIdentityProvider, now: () => number = Date.now): AwsCredentialIdentityProvider {
  let current: AwsCredentialIdentity | undefined;
  let pending: Promise<AwsCredentialIdentity> | undefined;
  const fresh = (c: AwsCredentialIdentity) => !c.expiration || c.expiration.getTime() - REFRESH_MARGIN_MS > now();
  return async () => {
    if (current && fresh(current)) return current;
    pending ??= (async () => {
      try {
        current = await inner(current ? { forceRefresh: true } : undefined);
        return current;
      } finally {
        pending = undefined;
      }
    })();
    return pending;
  };
}

export interface SignableRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string | Buffer;
}

/** Produces the auth headers for one Bedrock request. */
export interface BedrockAuth {
  readonly source: string;
  headers(req: SignableRequest): Promise<Record<string, string>>;
}

/**
 * The Bedrock authenticator for a source. SigV4 signs with service `bedrock` and the target's
 * region over host, x-amz-date, x-amz-content-sha256 and the given headers; the caller must send
 * exactly the returned headers and body.
 */
export function bedrockAuth(source: AwsCredentialSource, region: string, chain?: AwsCredentialIdentityProvider): BedrockAuth {
  const label = describeAwsSource(source);
  if (source.kind === 'apiKey') {
    return { source: label, headers: async (req) => ({ ...req.headers, authorization: `Bearer ${source.apiKey}` }) };
  }
  const provider =
    source.kind === 'static'
      ? async () => ({
          accessKeyId: source.accessKeyId,
          secretAccessKey: source.secretAccessKey,
          ...(source.sessionToken ? { sessionToken: source.sessionToken } : {}),
        })
      : cachedCredentials(chain ?? fromNodeProviderChain());
  const signer = new SignatureV4({ service: 'bedrock', region, credentials: provider, sha256: Sha256 });
  return {
    source: label,
    async headers(req) {
      // Resolved here first so a failure becomes a CredentialError; the signer's own call then
      // hits the cache (static keys cost nothing to resolve twice).
      try {
        await provider();
      } catch (err) {
        throw new CredentialError('bedrock', label, safeDetail(err));
      }
      const u = new URL(req.url);
      const query: Record<string, string> = {};
      u.searchParams.forEach((v, k) => (query[k] = v));
      const signed = await signer.sign({
        method: req.method,
        protocol: u.protocol,
        hostname: u.hostname,
        port: u.port ? Number(u.port) : undefined,
        path: u.pathname,
        query,
        headers: { ...lower(req.headers), host: u.host },
        body: req.body,
      });
      return signed.headers;
    },
  };
}

function lower(h: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]));
}

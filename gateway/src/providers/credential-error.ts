/** A cloud credential failure, safe to show: it names the provider and the source, never a secret. */
export class CredentialError extends Error {
  constructor(
    readonly provider: 'bedrock' | 'vertex',
    readonly source: string,
    detail: string,
  ) {
    super(`${provider}: could not obtain credentials from ${source}: ${detail}`);
    this.name = 'CredentialError';
  }
}

/**
 * Credential libraries' errors say what was missing or refused, not a secret; only the first line
 * is kept, and anything shaped like an AWS key, a bearer token or a PEM key is masked anyway.
 */
export function safeDetail(err: unknown): string {
  const m = (err instanceof Error ? err.message : String(err)).split('\n')[0].slice(0, 300);
  return m
    .replace(/-----BEGIN[^-]*-----[\s\S]*/g, '[redacted]')
    .replace(/\b(A[SK]IA[0-9A-Z]{12,})\b/g, '[redacted]')
    .replace(/\bya29\.[A-Za-z0-9._-]+/g, '[redacted]')
    .replace(/[A-Za-z0-9/+]{40}/g, '[redacted]');
}

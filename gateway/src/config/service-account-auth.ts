import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { ConfigSnapshot, ServiceAccountAuth } from './snapshot';

export const DEFAULT_AUDIENCE = 'switchyard';

/**
 * The snapshot with the issuer's keys attached. The version covers them, so a key rotation is a
 * new configuration that gateways apply (equal versions are no-ops).
 */
export function withServiceAccountAuth(snapshot: ConfigSnapshot, auth: ServiceAccountAuth | undefined): ConfigSnapshot {
  if (!auth) return snapshot;
  const version = createHash('sha256').update(snapshot.version).update('\n').update(JSON.stringify(auth)).digest('hex').slice(0, 16);
  return { ...snapshot, version, serviceAccountAuth: auth };
}

/** Checks a parsed JWK set has the shape the snapshot schema and jose need; returns it trimmed to `keys`. */
export function checkedJwks(value: unknown, source: string): ServiceAccountAuth['jwks'] {
  const keys = (value as { keys?: unknown })?.keys;
  if (!Array.isArray(keys) || keys.some((k) => !k || typeof k !== 'object' || typeof (k as { kty?: unknown }).kty !== 'string')) {
    throw new Error(`${source}: not a JWK set (expected {"keys": [{"kty": ...}, ...]})`);
  }
  return { keys: keys as Record<string, unknown>[] };
}

/** Reads a JWK set from a file, or GETs it from an http(s) URL (standalone mode: `--sa-jwks`). */
export async function loadJwks(source: string, timeoutMs = 10_000): Promise<ServiceAccountAuth['jwks']> {
  if (/^https?:\/\//i.test(source)) {
    const res = await fetch(source, { signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'application/json' } });
    if (!res.ok) throw new Error(`${source}: HTTP ${res.status}`);
    return checkedJwks(await res.json(), source);
  }
  let text: string;
  try {
    text = await readFile(source, 'utf8');
  } catch (err) {
    throw new Error(`${source}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  try {
    return checkedJwks(JSON.parse(text), source);
  } catch (err) {
    throw new Error(err instanceof SyntaxError ? `${source}: not JSON` : (err as Error).message, { cause: err });
  }
}

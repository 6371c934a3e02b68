import { createHash } from 'node:crypto';
import type { Shadow } from '../core/routes';

/**
 * Whether one request goes to a shadow too. `request`: an independent draw per request, so a
 * shadow at p% sees p% of the route's traffic. `apiKey`: the key's place in [0, 100) comes from a
 * hash of the shadow's and the key's names, so the same callers are shadowed on every request and
 * every gateway pod, and two shadows of a route pick different callers. Requests without a key
 * name (none reach here today) are never sampled by key.
 */
export function isSampled(shadow: Shadow, keyName: string | undefined, random: () => number = Math.random): boolean {
  if (shadow.percent >= 100) return true;
  if (shadow.sampleBy === 'apiKey') return keyName !== undefined && keyPlace(shadow.name, keyName) < shadow.percent;
  return random() * 100 < shadow.percent;
}

/** The key's stable place in [0, 100) for this shadow (32 bits of SHA-256: uniform enough for any percent a user writes). */
export function keyPlace(shadowName: string, keyName: string): number {
  const digest = createHash('sha256').update(`${shadowName}\n${keyName}`).digest();
  return (digest.readUInt32BE(0) / 2 ** 32) * 100;
}

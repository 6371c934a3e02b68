import type { Target } from '../../core/routes';
import { vertexAuth, type VertexAuth } from './credentials';

export interface Credentials {
  auth: VertexAuth;
  project?: Promise<string>;
}

/**
 * One auth client per target (its token cache lives in it), keyed by the target's stable id, which
 * changes with its credentials: a new snapshot with the same target keeps the cached token, and a
 * rotated key gets a client of its own. Targets come and go with configuration, so past
 * MAX_ENTRIES the least recently used goes (it would otherwise keep every key ever configured).
 */
const byId = new Map<string, Credentials>();
export const MAX_ENTRIES = 256;

/** Targets are immutable within a snapshot: after the first request, one lookup by object. */
const byTarget = new WeakMap<Target, Credentials>();

export function credentialsFor(target: Target): Credentials {
  let c = byTarget.get(target);
  if (c) return c;
  c = byId.get(target.id);
  if (c) byId.delete(target.id);
  else {
    const source = target.googleServiceAccount ? ({ kind: 'serviceAccount', json: target.googleServiceAccount } as const) : ({ kind: 'adc' } as const);
    c = { auth: vertexAuth(source) };
  }
  // Re-inserted on every new snapshot's first use, so the oldest entry is the least recently configured.
  byId.set(target.id, c);
  if (byId.size > MAX_ENTRIES) byId.delete(byId.keys().next().value!);
  byTarget.set(target, c);
  return c;
}

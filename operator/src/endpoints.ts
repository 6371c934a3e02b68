/**
 * Gateway pods, as the EndpointSlices of the gateway Service list them. Pure, so tests can call it
 * without client-node.
 */
export interface GatewayEndpoint {
  /** Stable identity: the pod's uid when the slice names it, else address:port. */
  id: string;
  /** Base URL of the pod's admin port. */
  url: string;
  address: string;
  port: number;
  pod?: string;
  /** Passes its readiness probe (unset counts as ready, as the API says). */
  ready: boolean;
}

interface SliceLike {
  addressType?: string;
  endpoints?: Array<{
    addresses?: string[];
    conditions?: { ready?: boolean | null; serving?: boolean | null; terminating?: boolean | null };
    targetRef?: { uid?: string; name?: string };
  }>;
  ports?: Array<{ name?: string | null; port?: number | null }> | null;
}

/**
 * Every gateway pod worth pushing to: ready ones, and not-ready ones that are not terminating,
 * because a gateway without a configuration fails its readiness probe until the operator pushes
 * one (pushing only to ready pods would leave a fresh pod not ready forever). Terminating pods
 * are draining and get nothing. A pod listed twice (two slices during an update, or IPv4 and
 * IPv6) counts once, IPv4 first.
 */
export function gatewayEndpoints(slices: SliceLike[], portName: string): GatewayEndpoint[] {
  const byId = new Map<string, GatewayEndpoint>();
  const ordered = [...slices].sort((a, b) => rank(a.addressType) - rank(b.addressType));
  for (const slice of ordered) {
    if (slice.addressType === 'FQDN') continue;
    const port = slice.ports?.find((p) => (p.name ?? '') === portName)?.port;
    if (!port) continue;
    for (const ep of slice.endpoints ?? []) {
      const address = ep.addresses?.[0];
      if (!address) continue;
      const c = ep.conditions ?? {};
      if (c.terminating === true) continue;
      const ready = c.ready !== false && c.ready !== null;
      const id = ep.targetRef?.uid ?? `${address}:${port}`;
      const prev = byId.get(id);
      if (prev) {
        prev.ready ||= ready;
        continue;
      }
      const host = address.includes(':') ? `[${address}]` : address;
      byId.set(id, { id, url: `http://${host}:${port}`, address, port, pod: ep.targetRef?.name, ready });
    }
  }
  return [...byId.values()].sort((a, b) => (a.url < b.url ? -1 : a.url > b.url ? 1 : 0));
}

function rank(addressType?: string): number {
  return addressType === 'IPv6' ? 1 : 0;
}

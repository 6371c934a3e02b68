import * as k8s from '@kubernetes/client-node';
import type { Kind } from '../../gateway/src/config/crd-schema';
import type { Lease, LeaseClient } from './leader';
import type { StatusClient } from './reconcile';
import { GROUP, VERSION } from '../../gateway/src/config/k8s-object';

export const PLURALS: Record<Kind, string> = { ModelRoute: 'modelroutes', ApiKey: 'apikeys' };

/** An API error reduced to what callers branch on; the message is the API server's Status message. */
export class KubeApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = 'KubeApiError';
  }
}

/** ApiException.body is the raw JSON string of a Status. */
export function toKubeError(err: unknown): Error {
  if (err instanceof KubeApiError) return err;
  const e = err as { code?: unknown; body?: unknown; message?: string };
  if (typeof e?.code === 'number') {
    let reason = '';
    let message = e.message ?? `HTTP ${e.code}`;
    try {
      const status = typeof e.body === 'string' ? JSON.parse(e.body) : e.body;
      reason = status?.reason ?? '';
      if (status?.message) message = status.message;
    } catch {
      /* not a Status */
    }
    return new KubeApiError(e.code, reason, message);
  }
  return err instanceof Error ? err : new Error(String(err));
}

async function call<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    throw toKubeError(err);
  }
}

/** The operator's writes: Lease calls for leader election, status merge patches and Events. */
export class KubeClient implements LeaseClient, StatusClient {
  private readonly co: k8s.CustomObjectsApi;
  private readonly coord: k8s.CoordinationV1Api;
  private readonly events: k8s.EventsV1Api;

  constructor(kc: k8s.KubeConfig) {
    this.co = kc.makeApiClient(k8s.CustomObjectsApi);
    this.coord = kc.makeApiClient(k8s.CoordinationV1Api);
    this.events = kc.makeApiClient(k8s.EventsV1Api);
  }

  async get(namespace: string, name: string): Promise<Lease | undefined> {
    try {
      return (await call(this.coord.readNamespacedLease({ name, namespace }))) as unknown as Lease;
    } catch (err) {
      if ((err as KubeApiError).code === 404) return undefined;
      throw err;
    }
  }

  async create(namespace: string, lease: Lease): Promise<Lease> {
    return (await call(this.coord.createNamespacedLease({ namespace, body: lease as unknown as k8s.V1Lease }))) as unknown as Lease;
  }

  async replace(namespace: string, name: string, lease: Lease): Promise<Lease> {
    return (await call(this.coord.replaceNamespacedLease({ name, namespace, body: lease as unknown as k8s.V1Lease }))) as unknown as Lease;
  }

  async patchStatus(kind: Kind, namespace: string, name: string, status: Record<string, unknown>): Promise<void> {
    // client-node's generated patch methods default to json-patch; a merge patch must say so per call.
    await call(
      this.co.patchNamespacedCustomObjectStatus(
        { group: GROUP, version: VERSION, namespace, plural: PLURALS[kind], name, body: { status } },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      ),
    );
  }

  async createEvent(namespace: string, event: Record<string, unknown>): Promise<void> {
    await call(this.events.createNamespacedEvent({ namespace, body: event as unknown as k8s.EventsV1Event }));
  }
}

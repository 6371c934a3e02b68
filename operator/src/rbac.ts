/**
 * Every Kubernetes API permission the operator's code uses, and nothing more. The operator test
 * checks the fake API server's request log against this list; the chart test checks the rendered
 * Role/ClusterRole grants exactly this. Change all three together.
 */
export interface Permission {
  apiGroup: string;
  resource: string;
  verbs: string[];
}

export const OPERATOR_PERMISSIONS: Permission[] = [
  // Informers list and watch; the reconciler reads only their caches.
  { apiGroup: 'switchyard.dev', resource: 'modelroutes', verbs: ['list', 'watch'] },
  { apiGroup: 'switchyard.dev', resource: 'apikeys', verbs: ['list', 'watch'] },
  // Status is written with merge patches on the /status subresource only.
  { apiGroup: 'switchyard.dev', resource: 'modelroutes/status', verbs: ['patch'] },
  { apiGroup: 'switchyard.dev', resource: 'apikeys/status', verbs: ['patch'] },
  { apiGroup: '', resource: 'secrets', verbs: ['list', 'watch'] },
  { apiGroup: 'discovery.k8s.io', resource: 'endpointslices', verbs: ['list', 'watch'] },
  // Leader election: read, create on first start, renew/take over/release with update.
  { apiGroup: 'coordination.k8s.io', resource: 'leases', verbs: ['get', 'create', 'update'] },
  // Warning Events for rejected objects; each is a new Event (no series patching).
  { apiGroup: 'events.k8s.io', resource: 'events', verbs: ['create'] },
];

/** Read with get: the ServiceAccount issuer's discovery document and keys (a ClusterRole only can grant these). */
export const OPERATOR_NON_RESOURCE_URLS = ['/.well-known/openid-configuration', '/openid/v1/jwks'];

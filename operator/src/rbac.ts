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
  { apiGroup: 'switchyard.dev', resource: 'modelroutes', verbs: ['get', 'list', 'watch'] },
  { apiGroup: 'switchyard.dev', resource: 'apikeys', verbs: ['get', 'list', 'watch'] },
  { apiGroup: 'switchyard.dev', resource: 'modelroutes/status', verbs: ['get', 'update', 'patch'] },
  { apiGroup: 'switchyard.dev', resource: 'apikeys/status', verbs: ['get', 'update', 'patch'] },
  { apiGroup: '', resource: 'secrets', verbs: ['get', 'list', 'watch'] },
  { apiGroup: 'discovery.k8s.io', resource: 'endpointslices', verbs: ['list', 'watch'] },
  { apiGroup: 'coordination.k8s.io', resource: 'leases', verbs: ['get', 'create', 'update'] },
  { apiGroup: 'events.k8s.io', resource: 'events', verbs: ['create', 'patch'] },
];

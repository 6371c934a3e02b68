import type { K8sObject } from '../../gateway/src/config/k8s-object';

/**
 * The objects the operator tests put into the fake API server. They are also checked against the
 * CRD schemas (test/crds.test.ts), so a fixture can never drift from what a cluster would accept.
 */
export const NS = 'team-a';
export const GATEWAY_NS = 'switchyard';
export const GATEWAY_SERVICE = 'switchyard-gateway';

export function upstreamSecret(name: string, apiKey: string, namespace = NS): K8sObject {
  return { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace }, type: 'Opaque', stringData: { apiKey } };
}

export function clientSecret(name: string, key: string, namespace = NS): K8sObject {
  // Built-in clients usually send base64 `data`; the fake folds stringData the same way.
  return { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace }, type: 'Opaque', data: { key: Buffer.from(key).toString('base64') } };
}

export interface RouteOpts {
  model?: string;
  aliases?: string[];
  upstreamModel?: string;
  secret?: string;
  weight?: number;
  pricing?: boolean;
  extraTargets?: any[];
}

export function route(name: string, baseURL: string, o: RouteOpts = {}, namespace = NS): K8sObject {
  const spec: any = {
    model: o.model ?? name,
    targets: [
      {
        provider: 'anthropic',
        model: o.upstreamModel ?? `${o.model ?? name}-upstream`,
        baseURL,
        credentialsRef: { name: o.secret ?? 'anthropic', key: 'apiKey' },
        ...(o.weight !== undefined ? { weight: o.weight } : {}),
      },
      ...(o.extraTargets ?? []),
    ],
    retry: { attempts: 1, on: ['5xx', 'connect'] },
  };
  if (o.aliases) spec.aliases = o.aliases;
  if (o.pricing !== false) spec.pricing = { inputPerMTok: 3, outputPerMTok: 15 };
  return { apiVersion: 'switchyard.dev/v1alpha1', kind: 'ModelRoute', metadata: { name, namespace }, spec };
}

export function apiKey(name: string, secret: string, extra: any = {}, namespace = NS): K8sObject {
  return { apiVersion: 'switchyard.dev/v1alpha1', kind: 'ApiKey', metadata: { name, namespace }, spec: { secretRef: { name: secret }, ...extra } };
}

export interface Endpoint {
  address: string;
  ready?: boolean;
  terminating?: boolean;
  pod: string;
}

/** One EndpointSlice of the gateway Service; a slice has one port set, so a test gives each gateway (own admin port) its own slice. */
export function endpointSlice(name: string, adminPort: number, endpoints: Endpoint[], trafficPort = 8080): K8sObject & Record<string, any> {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name,
      namespace: GATEWAY_NS,
      labels: { 'kubernetes.io/service-name': GATEWAY_SERVICE, 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' },
    },
    addressType: 'IPv4',
    endpoints: endpoints.map((e) => ({
      addresses: [e.address],
      conditions: { ready: e.ready ?? true, serving: e.ready ?? true, terminating: e.terminating ?? false },
      nodeName: 'node-1',
      targetRef: { kind: 'Pod', name: e.pod, namespace: GATEWAY_NS, uid: `uid-${e.pod}` },
    })),
    ports: [
      { name: 'http', port: trafficPort, protocol: 'TCP' },
      { name: 'admin', port: adminPort, protocol: 'TCP' },
    ],
  };
}

/** Every custom resource the operator suites create, for the schema test. */
export function allFixtureObjects(): K8sObject[] {
  const url = 'http://127.0.0.1:9';
  return [
    route('claude-test', url, { aliases: ['test-alias'] }),
    route('claude-b', url, { upstreamModel: 'claude-upstream-b', pricing: false }),
    route('needs-secret', url, { secret: 'missing' }),
    route('with-fallback', url, { extraTargets: [{ provider: 'openai', model: 'gpt-4.1', baseURL: url, priority: 1, credentialsRef: { name: 'anthropic' } }] }),
    apiKey('team-a', 'client'),
    apiKey('team-b', 'client-b', { allowedModels: ['claude-*'], limits: { requestsPerMinute: 60 } }),
  ];
}

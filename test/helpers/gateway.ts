import { Gateway, type GatewayConfig } from '../../gateway/src/gateway';
import { silentLogger } from '../../gateway/src/log';
import { compile } from '../../gateway/src/config/compile';
import type { K8sObject } from '../../gateway/src/config/k8s-object';
import type { ConfigSnapshot } from '../../gateway/src/config/snapshot';

export const CLIENT_KEY = 'sk-test-client-key-0001';
export const UPSTREAM_KEY = 'sk-ant-upstream-secret-9999';

let serial = 1_700_000_000_000;

export function secret(name: string, data: Record<string, string>, namespace = 'default'): K8sObject {
  return { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace }, stringData: data };
}

export function modelRoute(name: string, spec: any, namespace = 'default', creationTimestamp?: string): K8sObject {
  return { apiVersion: 'switchyard.dev/v1alpha1', kind: 'ModelRoute', metadata: { name, namespace, generation: 1, creationTimestamp }, spec };
}

export function apiKey(name: string, spec: any, namespace = 'default'): K8sObject {
  return { apiVersion: 'switchyard.dev/v1alpha1', kind: 'ApiKey', metadata: { name, namespace, generation: 1 }, spec };
}

/** Compiles objects with the real compile(); fails loudly if the test wrote a rejected object. */
export function snapshotOf(objects: K8sObject[], gateways?: number): ConfigSnapshot {
  const pick = (k: string) => objects.filter((o) => o.kind === k);
  const { snapshot, results } = compile({ routes: pick('ModelRoute'), keys: pick('ApiKey'), secrets: pick('Secret'), serial: serial++, gateways });
  const bad = results.filter((r) => !r.accepted);
  if (bad.length) throw new Error(`test config rejected: ${bad.map((r) => `${r.key}: ${r.message}`).join('; ')}`);
  return snapshot;
}

/** The usual test world: one key, one route per given upstream model → the fake at `baseURL`. */
export function simpleConfig(
  baseURL: string,
  opts: { model?: string; aliases?: string[]; provider?: string; upstreamModel?: string; keySpec?: any; routeSpec?: any } = {},
): K8sObject[] {
  return [
    secret('upstream', { apiKey: UPSTREAM_KEY }),
    secret('client', { key: CLIENT_KEY }),
    modelRoute('main', {
      model: opts.model ?? 'claude-test',
      aliases: opts.aliases ?? ['test-alias'],
      targets: [{ provider: opts.provider ?? 'anthropic', model: opts.upstreamModel ?? 'claude-upstream-1', baseURL, credentialsRef: { name: 'upstream' } }],
      ...opts.routeSpec,
    }),
    apiKey('team-a', { secretRef: { name: 'client' }, ...opts.keySpec }),
  ];
}

export async function startGateway(snapshot: ConfigSnapshot | undefined, cfg: Partial<GatewayConfig> = {}): Promise<Gateway> {
  const gw = new Gateway({
    port: 0,
    adminPort: 0,
    host: '127.0.0.1',
    snapshot,
    log: silentLogger,
    adminToken: 'admin-token',
    ...cfg,
    options: { baseBackoffMs: 5, ...cfg.options },
  });
  return gw.start();
}

export const baseURL = (gw: Gateway) => `http://127.0.0.1:${gw.trafficPort}`;
export const adminURL = (gw: Gateway) => `http://127.0.0.1:${gw.adminPort}`;

/** A small Messages request over plain fetch (status, headers and body as sent), with client key `key`. */
export const postMessage = (url: string, key = CLIENT_KEY) =>
  fetch(`${url}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': key, 'anthropic-version': '2023-06-01' },
    body: JSON.stringify({ model: 'claude-test', max_tokens: 10, messages: [{ role: 'user', content: 'Hi' }] }),
  });

/**
 * Validates rendered Kubernetes objects against the Kubernetes API schemas, twice:
 * - `kubernetes-models` (ajv validators compiled from the official OpenAPI schemas; the
 *   ServiceMonitor from the Prometheus Operator's CRD schema): types, enums, required fields;
 * - a strict field check, as `kubectl apply --validate=strict` and Helm do: every field must be
 *   known to the API. Field lists come from @kubernetes/client-node's generated models (OpenAPI
 *   v1.34), read as data from their attributeTypeMap tables.
 * The Gateway API's HTTPRoute, which no package here describes, is checked by gateway-api.ts.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { httpRouteErrors } from './gateway-api';
import type { K8sObject } from './render';

const MODEL_PACKAGES: Record<string, string> = {
  'monitoring.coreos.com': '@kubernetes-models/prometheus-operator',
};

/** kubernetes-models' validation errors for one object (an empty list when valid). */
export function schemaErrors(obj: K8sObject): string[] {
  const group = obj.apiVersion.includes('/') ? obj.apiVersion.split('/')[0] : '';
  if (group === 'gateway.networking.k8s.io' && obj.kind === 'HTTPRoute') {
    const { _source: _ignored, ...plain } = obj as K8sObject & { _source?: string };
    return httpRouteErrors(plain);
  }
  const pkg = MODEL_PACKAGES[group] ?? 'kubernetes-models';
  let Model: any;
  try {
    Model = require(`${pkg}/${obj.apiVersion}/${obj.kind}`)[obj.kind];
  } catch {
    return [`no schema for ${obj.apiVersion} ${obj.kind}`];
  }
  const { _source: _ignored, ...plain } = obj as K8sObject & { _source?: string };
  try {
    new Model(plain).validate();
    return [];
  } catch (e) {
    return [(e as Error).message];
  }
}

interface Attr {
  baseName: string;
  type: string;
}

let models: Map<string, Attr[]> | undefined;

function loadModels(): Map<string, Attr[]> {
  if (models) return models;
  models = new Map();
  const dir = join(dirname(require.resolve('@kubernetes/client-node/package.json')), 'dist', 'gen', 'models');
  for (const file of readdirSync(dir)) {
    if (!file.endsWith('.js')) continue;
    const m = /^(\w+)\.attributeTypeMap = (\[[\s\S]*?\n\]);/m.exec(readFileSync(join(dir, file), 'utf8'));
    if (m) models.set(m[1], JSON.parse(m[2]) as Attr[]);
  }
  if (models.size < 100) throw new Error(`could not read @kubernetes/client-node's models from ${dir}`);
  return models;
}

/** client-node's model name of a top-level kind: apps/v1 Deployment → V1Deployment. */
function modelName(apiVersion: string, kind: string): string {
  const version = apiVersion.split('/').pop()!;
  return version.charAt(0).toUpperCase() + version.slice(1) + kind;
}

/** Fields the API server does not know, as JSON paths; undefined when the kind has no model. */
export function unknownFields(obj: K8sObject): string[] | undefined {
  const all = loadModels();
  const root = modelName(obj.apiVersion, obj.kind);
  if (!all.has(root)) return undefined;
  const problems: string[] = [];
  const walk = (value: unknown, type: string, path: string): void => {
    if (value === null || value === undefined) return;
    let m: RegExpExecArray | null;
    if ((m = /^Array<(.+)>$/.exec(type))) {
      if (Array.isArray(value)) value.forEach((v, i) => walk(v, m![1], `${path}[${i}]`));
      return;
    }
    if ((m = /^\{ \[key: string\]: (.+); \}$/.exec(type))) {
      if (typeof value === 'object') for (const [k, v] of Object.entries(value as object)) walk(v, m[1], `${path}.${k}`);
      return;
    }
    const attrs = all.get(type);
    if (!attrs || typeof value !== 'object' || Array.isArray(value)) return;
    const known = new Map(attrs.map((a) => [a.baseName, a.type]));
    for (const [k, v] of Object.entries(value as object)) {
      const t = known.get(k);
      if (t === undefined) problems.push(`${path}.${k}`);
      else walk(v, t, `${path}.${k}`);
    }
  };
  const { _source: _ignored, ...plain } = obj as K8sObject & { _source?: string };
  walk(plain, root, '');
  return problems;
}

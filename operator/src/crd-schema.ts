import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { packageRoot } from './paths';

/**
 * The CRDs' openAPIV3Schema is the one definition of what a ModelRoute or ApiKey may say. The
 * compiler validates (and defaults) objects with it, so a standalone YAML file gets the same
 * answers, with the same field paths, as `kubectl apply` against a cluster would.
 */
export type Kind = 'ModelRoute' | 'ApiKey';

export function loadCrd(kind: Kind): any {
  const file = kind === 'ModelRoute' ? 'modelroutes.switchyard.dev.yaml' : 'apikeys.switchyard.dev.yaml';
  return yaml.load(readFileSync(join(packageRoot(), 'crds', file), 'utf8'));
}

/** OpenAPI v3.0 (Kubernetes dialect) → JSON Schema draft-07 that ajv understands. */
export function toJsonSchema(node: any): any {
  if (Array.isArray(node)) return node.map(toJsonSchema);
  if (!node || typeof node !== 'object') return node;
  const out: any = {};
  for (const [k, v] of Object.entries(node)) {
    if (k.startsWith('x-kubernetes-')) continue;
    if (k === 'exclusiveMinimum' || k === 'exclusiveMaximum' || k === 'nullable') continue;
    if (k === 'properties' || k === 'patternProperties') {
      out[k] = Object.fromEntries(Object.entries(v as object).map(([p, s]) => [p, toJsonSchema(s)]));
    } else out[k] = toJsonSchema(v);
  }
  if (node.exclusiveMinimum === true && typeof node.minimum === 'number') {
    out.exclusiveMinimum = node.minimum;
    delete out.minimum;
  }
  if (node.exclusiveMaximum === true && typeof node.maximum === 'number') {
    out.exclusiveMaximum = node.maximum;
    delete out.maximum;
  }
  if (node.nullable === true && typeof out.type === 'string') out.type = [out.type, 'null'];
  if (node['x-kubernetes-int-or-string']) out.type = ['integer', 'string'];
  return out;
}

const validators = new Map<Kind, ValidateFunction>();

function validator(kind: Kind): ValidateFunction {
  let v = validators.get(kind);
  if (!v) {
    const ajv = new Ajv({ allErrors: true, strict: false, useDefaults: true });
    addFormats(ajv);
    const crd = loadCrd(kind);
    v = ajv.compile(toJsonSchema(crd.spec.versions[0].schema.openAPIV3Schema));
    validators.set(kind, v);
  }
  return v;
}

/** Validates `obj` in place, filling in CRD defaults. Returns human messages with field paths. */
export function validateAndDefault(kind: Kind, obj: unknown): string[] {
  const check = validator(kind);
  if (check(obj)) return [];
  return (check.errors ?? []).map(formatError);
}

export function formatError(e: ErrorObject): string {
  const path = e.instancePath.replace(/^\//, '').split('/').filter(Boolean).join('.');
  if (e.keyword === 'required') return `${path ? path + '.' : ''}${e.params.missingProperty}: required`;
  if (e.keyword === 'enum') return `${path}: must be one of ${(e.params.allowedValues as unknown[]).join(', ')}`;
  return `${path || '(root)'}: ${e.message}`;
}

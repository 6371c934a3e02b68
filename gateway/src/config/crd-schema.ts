import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { packageRoot } from './package-root';

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

/** ObjectMeta's fields: the CRDs say only `metadata: {type: object}`; the API server knows the rest. */
const OBJECT_META = [
  'name',
  'generateName',
  'namespace',
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'labels',
  'annotations',
  'ownerReferences',
  'finalizers',
  'managedFields',
  'selfLink',
];
const MAP = { type: 'object', 'x-kubernetes-preserve-unknown-fields': true };

/** What a core/v1 Secret may hold, in the CRDs' schema dialect, so one walker checks all three kinds. */
const SECRET_SCHEMA = {
  type: 'object',
  properties: { apiVersion: {}, kind: {}, metadata: { type: 'object' }, type: {}, immutable: {}, data: MAP, stringData: MAP },
};

const NAMESPACE_SCHEMA = { type: 'object', properties: { apiVersion: {}, kind: {}, metadata: { type: 'object' }, spec: MAP } };

/**
 * Fields the schema does not declare, as `kubectl apply` with server-side field validation
 * (Strict, its default) reports them instead of silently pruning them: each names the field and,
 * when one is close, the sibling it probably meant. Both `switchyard validate` and the gateway's
 * `--config` loader call this, with the schema from crds/.
 */
export function unknownFields(kind: Kind | 'Secret' | 'Namespace', obj: unknown): string[] {
  const schema = kind === 'Secret' ? SECRET_SCHEMA : kind === 'Namespace' ? NAMESPACE_SCHEMA : loadCrd(kind).spec.versions[0].schema.openAPIV3Schema;
  const out: string[] = [];
  walk(schema, obj, '', out);
  return out;
}

function walk(schema: any, value: unknown, path: string, out: string[]): void {
  if (!schema || value === null || typeof value !== 'object') return;
  if (Array.isArray(value)) {
    if (schema.items) value.forEach((v, i) => walk(schema.items, v, `${path}.${i}`, out));
    return;
  }
  if (schema['x-kubernetes-preserve-unknown-fields']) return;
  if (path === 'metadata') {
    for (const k of Object.keys(value)) if (!OBJECT_META.includes(k)) out.push(unknown(`${path}.${k}`, k, OBJECT_META));
    return;
  }
  if (typeof schema.additionalProperties === 'object') {
    for (const [k, v] of Object.entries(value)) walk(schema.additionalProperties, v, `${path}.${k}`, out);
    return;
  }
  const known = Object.keys(schema.properties ?? {});
  for (const [k, v] of Object.entries(value)) {
    const p = path ? `${path}.${k}` : k;
    if (known.includes(k)) walk(schema.properties[k], v, p, out);
    else out.push(unknown(p, k, known));
  }
}

function unknown(path: string, field: string, known: string[]): string {
  const near = closest(field, known);
  return `${path}: unknown field "${field}"${near ? `; did you mean "${near}"?` : known.length ? ` (known: ${known.join(', ')})` : ''}`;
}

/** The sibling within a plausible typo's distance, if any. */
export function closest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = levenshtein(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  return bestDistance <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

export function levenshtein(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length];
}

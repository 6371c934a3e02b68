import { isCelError, parse, run } from '@bufbuild/cel';
import { loadCrd, validateAndDefault, type Kind } from '../../gateway/src/config/crd-schema';

/**
 * What an API server would say about a custom resource: the CRD's OpenAPI schema (through the
 * same ajv conversion compile() uses, defaults applied) and then its CEL
 * `x-kubernetes-validations`, evaluated with a real CEL interpreter. Messages follow the API
 * server's shape (`spec.aliases: Invalid value: "array": aliases must be unique`).
 */
export interface CelRule {
  rule: string;
  message?: string;
  messageExpression?: string;
  fieldPath?: string;
  reason?: string;
}

export function schemaOf(kind: Kind): any {
  return loadCrd(kind).spec.versions[0].schema.openAPIV3Schema;
}

/** Validates `obj` in place (filling defaults). Returns problems; empty means the server would accept it. */
export function validateObject(kind: Kind, obj: any): string[] {
  const schemaErrors = validateAndDefault(kind, obj);
  if (schemaErrors.length) return schemaErrors;
  return celErrors(schemaOf(kind), obj, '');
}

export function celErrors(schema: any, value: unknown, path: string): string[] {
  if (value === undefined || value === null || !schema) return [];
  const out: string[] = [];
  for (const r of (schema['x-kubernetes-validations'] ?? []) as CelRule[]) {
    const result = run(r.rule, { self: toCel(schema, value) });
    if (result === true) continue;
    const where = path + (r.fieldPath ?? '');
    const what = Array.isArray(value) ? 'array' : typeof value === 'object' ? 'object' : typeof value;
    const msg = isCelError(result) ? `rule '${r.rule}' failed: ${result.message}` : (r.message ?? `failed rule: ${r.rule}`);
    out.push(`${where.replace(/^\./, '') || '(root)'}: Invalid value: "${what}": ${msg}`);
  }
  if (Array.isArray(value)) {
    value.forEach((v, i) => out.push(...celErrors(schema.items, v, `${path}[${i}]`)));
  } else if (typeof value === 'object') {
    for (const [k, v] of Object.entries(value as object)) {
      const sub = schema.properties?.[k] ?? (typeof schema.additionalProperties === 'object' ? schema.additionalProperties : undefined);
      out.push(...celErrors(sub, v, `${path}.${k}`));
    }
  }
  return out;
}

/** JSON → CEL values as the API server types them: integer → int, number → double, object → map. */
export function toCel(schema: any, value: unknown): any {
  if (value === null || value === undefined) return null;
  if (Array.isArray(value)) return value.map((v) => toCel(schema?.items, v));
  if (typeof value === 'object') {
    const m = new Map<string, unknown>();
    for (const [k, v] of Object.entries(value as object)) {
      const sub = schema?.properties?.[k] ?? (typeof schema?.additionalProperties === 'object' ? schema.additionalProperties : undefined);
      m.set(k, toCel(sub, v));
    }
    return m;
  }
  if (typeof value === 'number') return schema?.type === 'integer' ? BigInt(value) : value;
  return value;
}

/** Every CEL rule in a schema, with the schema node it sits on and its path. */
export function rulesIn(schema: any, path = ''): Array<{ path: string; node: any; rule: CelRule }> {
  const out: Array<{ path: string; node: any; rule: CelRule }> = [];
  for (const rule of schema?.['x-kubernetes-validations'] ?? []) out.push({ path, node: schema, rule });
  for (const [k, v] of Object.entries(schema?.properties ?? {})) out.push(...rulesIn(v, `${path}.${k}`));
  if (schema?.items) out.push(...rulesIn(schema.items, `${path}[*]`));
  if (typeof schema?.additionalProperties === 'object') out.push(...rulesIn(schema.additionalProperties, `${path}.*`));
  return out;
}

/** Throws on a CEL syntax error. */
export function parseCel(rule: string): void {
  parse(rule);
}

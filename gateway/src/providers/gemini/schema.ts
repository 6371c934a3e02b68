/**
 * Tool input_schema (any JSON Schema) → what a Gemini function declaration accepts.
 *
 * - `openapi` → `parameters`: Gemini's OpenAPI 3.0 subset. Gemini answers 400 for any key outside
 *   it ("Unknown name … Cannot find field") and for several shapes inside it, so this is an
 *   allow-list walk: `$ref`/`$defs` are inlined, `allOf` merged, `oneOf` becomes `anyOf`, null
 *   branches and `type: [T, "null"]` become `nullable`, `const` a one-value enum, numeric
 *   `exclusiveMinimum`/`exclusiveMaximum` fold into `minimum`/`maximum`, and anything else
 *   (`$schema`, `additionalProperties`, `propertyNames`, unsupported `format`s, …) is dropped.
 * - `jsonSchema` → `parametersJsonSchema` (Gemini 2.5+): plain JSON Schema, so `$ref`/`$defs` and
 *   `additionalProperties` stay; keywords Gemini does not honour are still dropped, and type
 *   arrays and `oneOf` become `anyOf`, so both modes send one predictable dialect.
 */
export type SchemaMode = 'openapi' | 'jsonSchema';

type Json = Record<string, any>;

interface Ctx {
  mode: SchemaMode;
  root: Json;
  /** `$ref`s being expanded (openapi inlining), to stop on recursive schemas. */
  expanding: string[];
}

/** Keys a branch split off a type array keeps besides its type's own (description stays on the parent). */
const COMMON = ['default', 'example', 'examples'];
const BY_TYPE: Record<string, string[]> = {
  string: ['enum', 'const', 'format', 'minLength', 'maxLength', 'pattern'],
  number: ['enum', 'const', 'format', 'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum'],
  integer: ['enum', 'const', 'format', 'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum'],
  array: ['items', 'prefixItems', 'minItems', 'maxItems'],
  object: ['properties', 'required', 'additionalProperties', 'minProperties', 'maxProperties', 'propertyOrdering'],
  boolean: [],
  null: [],
};

/** The converted schema, or undefined for a tool without arguments (Gemini wants no schema then). */
export function toGeminiSchema(input: unknown, mode: SchemaMode): Json | undefined {
  if (!isObj(input)) return undefined;
  const ctx: Ctx = { mode, root: input, expanding: [] };
  // A root that is only a `$ref` (common in generated schemas) is inlined: Gemini wants an object root.
  const rootRef = typeof input.$ref === 'string' ? resolvePointer(input, input.$ref) : undefined;
  const root = rootRef ? { ...rootRef, ...omit(input, ['$ref', '$defs', 'definitions']) } : input;
  const out = convert({ ...root, type: 'object' }, ctx);
  const hasProps = isObj(out.properties) && Object.keys(out.properties).length > 0;
  const hasMap = mode === 'jsonSchema' && isObj(out.additionalProperties);
  if (!hasProps && !hasMap) return undefined;
  if (mode === 'jsonSchema') {
    for (const key of ['$defs', 'definitions']) {
      if (isObj(input[key])) out[key] = mapValues(input[key], (d) => convert(d, ctx));
    }
  }
  return out;
}

function convert(raw: unknown, ctx: Ctx): Json {
  if (!isObj(raw)) return {}; // `true`, `{}` and oddities: any value
  let s: Json = raw;
  if (typeof s.$ref === 'string') {
    if (ctx.mode === 'jsonSchema') return pickDefined({ $ref: s.$ref, description: str(s.description), default: s.default });
    return inlineRef(s, ctx);
  }
  if (Array.isArray(s.allOf)) s = mergeAllOf(s, ctx);

  let types: string[] = Array.isArray(s.type) ? s.type.filter((t: unknown) => typeof t === 'string') : typeof s.type === 'string' ? [s.type] : [];
  let nullable = s.nullable === true;
  if (types.includes('null')) {
    nullable = true;
    types = types.filter((t) => t !== 'null');
  }
  const union = Array.isArray(s.anyOf) ? s.anyOf : Array.isArray(s.oneOf) ? s.oneOf : undefined;
  if (union) return convertUnion(s, union, nullable, ctx);
  if (types.length > 1) {
    const branches = types.map((t) => ({ ...pick(s, [...COMMON, ...(BY_TYPE[t] ?? [])]), type: t }));
    return convertUnion(omit(s, ['type']), branches, nullable, ctx);
  }
  return convertSingle(s, types[0], nullable, ctx);
}

function convertUnion(s: Json, branches: unknown[], nullable: boolean, ctx: Ctx): Json {
  const rest = omit(s, ['anyOf', 'oneOf']);
  const nonNull = branches.filter((b) => !(isObj(b) && b.type === 'null'));
  if (nonNull.length < branches.length) nullable = true;
  if (nonNull.length === 0) return convertSingle(rest, undefined, nullable, ctx);
  if (nonNull.length === 1) {
    const branch = nonNull[0] as Json;
    const merged: Json = { ...omit(rest, ['type']), ...branch };
    // The parent's description describes the property, so it wins over the branch's.
    if (typeof rest.description === 'string') merged.description = rest.description;
    if (branch.type === undefined && rest.type !== undefined) merged.type = rest.type;
    if (nullable) merged.nullable = true;
    return convert(merged, ctx);
  }
  const enumOnly = mergeStringEnums(nonNull);
  if (enumOnly) return convert({ ...rest, ...enumOnly, ...(nullable ? { nullable: true } : {}) }, ctx);
  const converted = nonNull.map((b) => convert(b, ctx));
  if (ctx.mode === 'openapi') {
    // Gemini: "anyOf … must be the only field set", so what the parent says moves into each branch.
    for (const c of converted) {
      if (typeof rest.description === 'string' && c.description === undefined) c.description = rest.description;
      if (nullable) c.nullable = true;
    }
    return { anyOf: converted };
  }
  const out = pickDefined({ description: str(rest.description), title: str(rest.title), default: rest.default });
  return { ...out, anyOf: nullable ? [...converted, { type: 'null' }] : converted };
}

function convertSingle(s: Json, type: string | undefined, nullable: boolean, ctx: Ctx): Json {
  const openapi = ctx.mode === 'openapi';
  const out: Json = {};
  if (type) out.type = openapi ? type.toUpperCase() : type;
  copyStrings(s, out, ['title', 'description']);
  if (s.default !== undefined) out.default = s.default;
  if (openapi) {
    const example = s.example ?? (Array.isArray(s.examples) ? s.examples[0] : undefined);
    if (example !== undefined) out.example = example;
  }

  const values: unknown[] | undefined = Array.isArray(s.enum) ? s.enum : 'const' in s ? [s.const] : undefined;
  if (values) {
    if (values.includes(null)) nullable = true;
    const nonNull = values.filter((v) => v !== null);
    if (!openapi) out.enum = nonNull;
    else if (nonNull.every((v) => typeof v === 'string')) {
      // Gemini enums are strings only and reject empty ones.
      const strings = (nonNull as string[]).filter((v) => v !== '');
      if (strings.length) {
        out.enum = strings;
        out.type ??= 'STRING';
      }
    } else {
      // A numeric or mixed enum cannot be expressed; the model still learns the allowed values.
      const list = nonNull.map((v) => JSON.stringify(v)).join(', ');
      out.description = `${out.description ? `${out.description} ` : ''}One of: ${list}.`;
    }
  }

  if (typeof s.format === 'string' && (!openapi || formatAllowed(type, s.format))) out.format = s.format;
  copyNumbers(s, out, ['minLength', 'maxLength', 'minItems', 'maxItems', 'minProperties', 'maxProperties']);
  if (typeof s.pattern === 'string') out.pattern = s.pattern;
  bounds(s, out, type === 'integer');

  const items = isObj(s.items) ? s.items : Array.isArray(s.items) ? tuple(s.items) : Array.isArray(s.prefixItems) ? tuple(s.prefixItems) : undefined;
  if (items) out.items = convert(items, ctx);

  if (isObj(s.properties)) {
    const props = mapValues(s.properties, (p) => convert(p, ctx));
    // Gemini rejects an OBJECT with empty `properties` and `required` names it does not declare.
    if (Object.keys(props).length || !openapi) out.properties = props;
    const required = Array.isArray(s.required) ? s.required.filter((r: unknown) => typeof r === 'string' && r in props) : [];
    if (required.length) out.required = required;
  }
  if (Array.isArray(s.propertyOrdering)) out.propertyOrdering = s.propertyOrdering;
  if (!openapi && (typeof s.additionalProperties === 'boolean' || isObj(s.additionalProperties))) {
    out.additionalProperties = isObj(s.additionalProperties) ? convert(s.additionalProperties, ctx) : s.additionalProperties;
  }

  if (nullable) {
    if (openapi) out.nullable = true;
    else return { ...pickDefined({ description: str(out.description) }), anyOf: [omit(out, ['description']), { type: 'null' }] };
  }
  return out;
}

/** OpenAPI formats Gemini accepts: "only 'enum' and 'date-time' are supported for STRING type". */
function formatAllowed(type: string | undefined, format: string): boolean {
  if (type === 'string') return format === 'enum' || format === 'date-time';
  if (type === 'number') return format === 'float' || format === 'double';
  if (type === 'integer') return format === 'int32' || format === 'int64';
  return false;
}

/** Folds exclusive bounds (2020-12 numbers or draft-4 booleans) into inclusive ones. */
function bounds(s: Json, out: Json, integer: boolean): void {
  const step = integer ? 1 : 0;
  let min = typeof s.minimum === 'number' ? s.minimum : undefined;
  let max = typeof s.maximum === 'number' ? s.maximum : undefined;
  if (typeof s.exclusiveMinimum === 'number') min = Math.max(min ?? -Infinity, s.exclusiveMinimum + step);
  else if (s.exclusiveMinimum === true && min !== undefined) min += step;
  if (typeof s.exclusiveMaximum === 'number') max = Math.min(max ?? Infinity, s.exclusiveMaximum - step);
  else if (s.exclusiveMaximum === true && max !== undefined) max -= step;
  if (min !== undefined) out.minimum = min;
  if (max !== undefined) out.maximum = max;
}

function inlineRef(s: Json, ctx: Ctx): Json {
  const ref: string = s.$ref;
  const siblings = omit(s, ['$ref']);
  const target = ctx.expanding.includes(ref) ? undefined : resolvePointer(ctx.root, ref);
  if (!target) {
    // A recursive (or unresolvable) reference cannot be inlined; the model gets a free-form value.
    return pickDefined({
      description: str(siblings.description) ?? (isObj(resolvePointer(ctx.root, ref)) ? 'Recursive structure (same shape as its parent).' : undefined),
    });
  }
  ctx.expanding.push(ref);
  try {
    return convert({ ...target, ...siblings }, ctx);
  } finally {
    ctx.expanding.pop();
  }
}

function resolvePointer(root: Json, ref: string): Json | undefined {
  if (ref === '#') return root;
  if (!ref.startsWith('#/')) return undefined;
  let node: any = root;
  for (const raw of ref.slice(2).split('/')) {
    const key = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    node = isObj(node) || Array.isArray(node) ? (node as any)[key] : undefined;
  }
  return isObj(node) ? node : undefined;
}

function mergeAllOf(s: Json, ctx: Ctx): Json {
  const merged: Json = omit(s, ['allOf']);
  for (let sub of s.allOf as unknown[]) {
    if (isObj(sub) && typeof sub.$ref === 'string' && ctx.mode === 'openapi') sub = resolvePointer(ctx.root, sub.$ref) ?? {};
    if (!isObj(sub)) continue;
    for (const [k, v] of Object.entries(sub)) {
      if (k === 'properties' && isObj(v)) merged.properties = { ...v, ...merged.properties };
      else if (k === 'required' && Array.isArray(v)) merged.required = [...new Set([...(merged.required ?? []), ...v])];
      else if (!(k in merged)) merged[k] = v;
    }
  }
  return merged;
}

/** `anyOf: [{enum: [a, b]}, {const: c}]` (all strings) is just `enum: [a, b, c]`. */
function mergeStringEnums(branches: unknown[]): Json | undefined {
  const values: string[] = [];
  for (const b of branches) {
    if (!isObj(b) || (b.type !== undefined && b.type !== 'string')) return undefined;
    const vs = Array.isArray(b.enum) ? b.enum : 'const' in b ? [b.const] : undefined;
    if (!vs || !vs.every((v: unknown) => typeof v === 'string')) return undefined;
    for (const v of vs) if (!values.includes(v)) values.push(v);
  }
  return { type: 'string', enum: values };
}

function tuple(items: unknown[]): Json | undefined {
  const objs = items.filter(isObj);
  if (objs.length === 0) return undefined;
  return objs.length === 1 ? objs[0] : { anyOf: objs };
}

const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown) => (typeof v === 'string' ? v : undefined);

function pick(s: Json, keys: string[]): Json {
  const out: Json = {};
  for (const k of keys) if (k in s) out[k] = s[k];
  return out;
}

function omit(s: Json, keys: string[]): Json {
  const out: Json = {};
  for (const [k, v] of Object.entries(s)) if (!keys.includes(k)) out[k] = v;
  return out;
}

function pickDefined(o: Json): Json {
  const out: Json = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out;
}

function mapValues(o: Json, fn: (v: unknown) => Json): Json {
  const out: Json = {};
  for (const [k, v] of Object.entries(o)) out[k] = fn(v);
  return out;
}

function copyStrings(from: Json, to: Json, keys: string[]): void {
  for (const k of keys) if (typeof from[k] === 'string') to[k] = from[k];
}

function copyNumbers(from: Json, to: Json, keys: string[]): void {
  for (const k of keys) if (typeof from[k] === 'number') to[k] = from[k];
}

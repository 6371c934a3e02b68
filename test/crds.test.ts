import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import yaml from 'js-yaml';
import { compile } from '../gateway/src/config/compile';
import { loadCrd, toJsonSchema, unknownFields, type Kind } from '../gateway/src/config/crd-schema';
import { packageRoot } from '../gateway/src/config/package-root';
import type { K8sObject } from '../gateway/src/config/k8s-object';
import { allFixtureObjects, apiKey, route } from './helpers/cluster-fixtures';
import { parseCel, rulesIn, schemaOf, validateObject } from './helpers/crd-validation';
import { simpleConfig } from './helpers/gateway';

const root = packageRoot();
const KINDS: Kind[] = ['ModelRoute', 'ApiKey'];

function yamlObjects(file: string): K8sObject[] {
  return (yaml.loadAll(readFileSync(file, 'utf8')) as K8sObject[]).filter(Boolean);
}

/** Walks a schema the way the API server's structural-schema check does; returns violations with paths. */
function structuralProblems(node: any, path: string, inJunctor = false): string[] {
  const out: string[] = [];
  if (!node || typeof node !== 'object') return [`${path}: not a schema`];
  if ('$ref' in node) out.push(`${path}: $ref is forbidden`);
  if (node.additionalProperties === false) out.push(`${path}: additionalProperties: false is forbidden`);
  if (node.uniqueItems === true) out.push(`${path}: uniqueItems: true is forbidden (use x-kubernetes-list-type: set)`);
  if (node.properties && node.additionalProperties !== undefined) out.push(`${path}: properties and additionalProperties are mutually exclusive`);
  if (inJunctor) {
    for (const k of ['type', 'default', 'description', 'nullable', 'additionalProperties'])
      if (k in node) out.push(`${path}: ${k} is not allowed inside allOf/anyOf/oneOf/not`);
  } else if (!node.type && !node['x-kubernetes-int-or-string'] && !node['x-kubernetes-preserve-unknown-fields']) {
    out.push(`${path}: type is required`);
  }
  for (const [k, v] of Object.entries(node.properties ?? {})) out.push(...structuralProblems(v, `${path}.${k}`, inJunctor));
  if (node.items) out.push(...structuralProblems(node.items, `${path}[*]`, inJunctor));
  if (typeof node.additionalProperties === 'object') out.push(...structuralProblems(node.additionalProperties, `${path}.*`, inJunctor));
  for (const j of ['allOf', 'anyOf', 'oneOf']) for (const [i, s] of (node[j] ?? []).entries()) out.push(...structuralProblems(s, `${path}.${j}[${i}]`, true));
  if (node.not) out.push(...structuralProblems(node.not, `${path}.not`, true));
  return out;
}

/** CEL cost is estimated from bounds: every string and list a rule can reach must have a maximum. */
function unboundedUnder(node: any, path: string): string[] {
  const out: string[] = [];
  if (node.type === 'string' && node.maxLength === undefined && !node.enum) out.push(`${path}: string without maxLength`);
  if (node.type === 'array' && node.maxItems === undefined) out.push(`${path}: array without maxItems`);
  if (node.type === 'object' && typeof node.additionalProperties === 'object' && node.maxProperties === undefined)
    out.push(`${path}: map without maxProperties`);
  for (const [k, v] of Object.entries(node.properties ?? {})) out.push(...unboundedUnder(v, `${path}.${k}`));
  if (node.items) out.push(...unboundedUnder(node.items, `${path}[*]`));
  if (typeof node.additionalProperties === 'object') out.push(...unboundedUnder(node.additionalProperties, `${path}.*`));
  return out;
}

/** The schema node a printer column's simple JSONPath (`.status.conditions[?(...)].reason`) lands on. */
function nodeAt(schema: any, jsonPath: string): any {
  let node = schema;
  for (const part of jsonPath
    .replace(/\[\?\(.*?\)\]/g, '[*]')
    .split('.')
    .filter(Boolean)) {
    const [name, star] = part.split('[');
    node = node?.properties?.[name];
    if (star) node = node?.items;
  }
  return node;
}

describe.each(KINDS)('%s CRD', (kind) => {
  const crd = loadCrd(kind);
  const version = crd.spec.versions[0];
  const schema = version.schema.openAPIV3Schema;

  test('is a well-formed apiextensions.k8s.io/v1 CRD with exactly one served storage version', () => {
    expect(crd.apiVersion).toBe('apiextensions.k8s.io/v1');
    expect(crd.kind).toBe('CustomResourceDefinition');
    expect(crd.metadata.name).toBe(`${crd.spec.names.plural}.${crd.spec.group}`);
    expect(crd.spec.group).toBe('switchyard.dev');
    expect(crd.spec.scope).toBe('Namespaced');
    expect(crd.spec.names.kind).toBe(kind);
    expect(crd.spec.names.singular).toBe(kind.toLowerCase());
    expect(crd.spec.names.plural).toBe(`${kind.toLowerCase()}s`);
    expect(crd.spec.names.shortNames.length).toBeGreaterThan(0);
    for (const s of crd.spec.names.shortNames) expect(s).toMatch(/^[a-z]+$/);
    expect(crd.spec.versions.filter((v: any) => v.storage)).toHaveLength(1);
    expect(version).toMatchObject({ name: 'v1alpha1', served: true, storage: true, subresources: { status: {} } });
  });

  test('outside the `all` category: `kubectl delete all --all` must not delete routes and keys; `kubectl get switchyard` lists them', () => {
    expect(crd.spec.names.categories).toEqual(['switchyard']);
  });

  test('schema is structural: every node typed, no forbidden keywords', () => {
    expect(structuralProblems(schema, '')).toEqual([]);
    expect(schema.properties.metadata).toEqual({ type: 'object' });
  });

  test('CEL rules parse, and everything they can reach is bounded (cost limits)', () => {
    const rules = rulesIn(schema);
    if (kind === 'ModelRoute') expect(rules.length).toBeGreaterThanOrEqual(3);
    for (const { path, node, rule } of rules) {
      expect(() => parseCel(rule.rule)).not.toThrow();
      expect(rule.message).toBeTruthy();
      if (rule.reason) expect(['FieldValueInvalid', 'FieldValueForbidden', 'FieldValueRequired', 'FieldValueDuplicate']).toContain(rule.reason);
      expect(unboundedUnder(node, path)).toEqual([]);
    }
  });

  test('defaults satisfy their own schema', () => {
    const ajv = new Ajv({ strict: false });
    addFormats(ajv);
    const walk = (node: any, path: string) => {
      if (!node || typeof node !== 'object') return;
      if ('default' in node) {
        const { default: d, ...rest } = node;
        expect({ path, ok: ajv.validate(toJsonSchema(rest), d) }).toEqual({ path, ok: true });
      }
      for (const [k, v] of Object.entries(node.properties ?? {})) walk(v, `${path}.${k}`);
      if (node.items) walk(node.items, `${path}[*]`);
    };
    walk(schema, '');
  });

  test('status has the conditions list map, observedGeneration and gateways', () => {
    const status = schema.properties.status;
    expect(status.properties.conditions).toMatchObject({ type: 'array', 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] });
    expect(status.properties.conditions.items.required).toEqual(expect.arrayContaining(['type', 'status', 'reason', 'lastTransitionTime']));
    expect(status.properties.observedGeneration.type).toBe('integer');
    expect(status.properties.gateways.type).toBe('string');
  });

  test('printer columns point at fields the schema has', () => {
    const cols = version.additionalPrinterColumns as Array<{ name: string; type: string; jsonPath: string }>;
    const names = cols.map((c) => c.name);
    expect(names).toEqual(expect.arrayContaining(['Accepted', 'Programmed', 'Gateways', 'Age']));
    if (kind === 'ModelRoute') expect(names).toEqual(expect.arrayContaining(['Model', 'Targets']));
    if (kind === 'ApiKey') expect(cols.find((c) => c.name === 'ServiceAccounts')).toMatchObject({ type: 'string', jsonPath: '.spec.serviceAccounts[*].name' });
    for (const c of cols) {
      expect(['string', 'integer', 'number', 'boolean', 'date']).toContain(c.type);
      if (c.jsonPath === '.metadata.creationTimestamp') continue;
      expect({ col: c.name, found: !!nodeAt(schema, c.jsonPath) }).toEqual({ col: c.name, found: true });
    }
  });
});

describe('examples and fixtures against the CRD schemas (ajv + CEL)', () => {
  const clusterDir = join(root, 'examples', 'cluster');
  const clusterFiles = readdirSync(clusterDir)
    .filter((f) => f.endsWith('.yaml'))
    .sort();

  test.each(clusterFiles)('examples/cluster/%s: every object is valid', (file) => {
    const objs = yamlObjects(join(clusterDir, file));
    expect(objs.length).toBeGreaterThan(0);
    for (const o of objs) {
      expect(o.apiVersion).toBeTruthy();
      expect(o.metadata.name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
      if (o.kind !== 'Namespace') expect(o.metadata.namespace).toBe('switchyard-demo');
      if (o.kind === 'ModelRoute' || o.kind === 'ApiKey')
        expect({ name: o.metadata.name, errors: validateObject(o.kind, structuredClone(o)) }).toEqual({ name: o.metadata.name, errors: [] });
    }
  });

  test('examples/cluster compiles to a snapshot with every route and key accepted', () => {
    const objs = clusterFiles.flatMap((f) => yamlObjects(join(clusterDir, f)));
    const pick = (k: string) => objs.filter((o) => o.kind === k);
    const { snapshot, results } = compile({ routes: pick('ModelRoute'), keys: pick('ApiKey'), secrets: pick('Secret'), serial: 1 });
    expect(results.filter((r) => !r.accepted)).toEqual([]);
    expect(snapshot.routes.map((r) => r.model).sort()).toEqual(['claude-haiku-4-5', 'claude-sonnet-4-5', 'gemini-2.5-flash', 'gpt-4.1']);
    expect(new Set(snapshot.routes.flatMap((r) => r.targets.map((t) => t.provider)))).toEqual(new Set(['anthropic', 'openai', 'gemini']));
    expect(snapshot.keys).toHaveLength(3);
    expect(snapshot.keys.find((k) => k.name === 'switchyard-demo/in-cluster-assistants')).toMatchObject({
      serviceAccounts: [{ namespace: 'switchyard-demo', name: 'assistant' }],
    });
  });

  test('examples/standalone.yaml and the test fixtures are valid', () => {
    const objs = [...yamlObjects(join(root, 'examples', 'standalone.yaml')), ...allFixtureObjects(), ...simpleConfig('http://127.0.0.1:9')];
    const crs = objs.filter((o) => o.kind === 'ModelRoute' || o.kind === 'ApiKey');
    expect(crs.length).toBeGreaterThanOrEqual(9);
    for (const o of crs)
      expect({ name: o.metadata.name, errors: validateObject(o.kind as Kind, structuredClone(o)) }).toEqual({ name: o.metadata.name, errors: [] });
  });
});

describe('bad objects are refused with messages that name the field', () => {
  const url = 'http://127.0.0.1:9';
  const base = () => route('r', url, { aliases: ['a1'] });
  const withSpec = (f: (spec: any) => void) => {
    const o = base();
    f(o.spec);
    return o;
  };
  const keyWith = (f: (spec: any) => void) => {
    const o = apiKey('k', 'client', { budget: { usd: 10, period: 'month' } });
    f(o.spec);
    return o;
  };

  const cases: Array<[string, K8sObject, string]> = [
    ['no targets field', withSpec((s) => delete s.targets), 'spec.targets: required'],
    ['empty targets', withSpec((s) => (s.targets = [])), 'spec.targets: must NOT have fewer than 1 items'],
    ['unknown provider', withSpec((s) => (s.targets[0].provider = 'azure')), 'spec.targets.0.provider: must be one of anthropic, openai, gemini'],
    ['duplicate aliases', withSpec((s) => (s.aliases = ['x', 'y', 'x'])), 'spec.aliases: Invalid value: "array": aliases must be unique'],
    ['alias repeats the model', withSpec((s) => (s.aliases = ['r'])), 'spec.aliases: Invalid value: "object": an alias must not repeat spec.model'],
    [
      'a priority group without weight',
      withSpec((s) => (s.targets[0].weight = 0)),
      'spec.targets: Invalid value: "object": every priority group needs a target with weight > 0',
    ],
    ['non-http baseURL', withSpec((s) => (s.targets[0].baseURL = 'ftp://example.com')), 'spec.targets.0.baseURL: must match pattern'],
    ['zero timeout', withSpec((s) => (s.targets[0].timeoutSeconds = 0)), 'spec.targets.0.timeoutSeconds: must be > 0'],
    ['unknown retry condition', withSpec((s) => (s.retry.on = ['404'])), 'spec.retry.on.0: must be one of 429, 5xx, timeout, connect'],
    ['bad Secret name', withSpec((s) => (s.targets[0].credentialsRef.name = 'Bad_Name')), 'spec.targets.0.credentialsRef.name: must match pattern'],
    ['model with a space', withSpec((s) => (s.model = 'claude sonnet')), 'spec.model: must match pattern'],
    ['neither secretRef nor serviceAccounts', keyWith((s) => delete s.secretRef), 'spec: Invalid value: "object": set secretRef, serviceAccounts or both'],
    [
      'empty serviceAccounts and no secretRef',
      keyWith((s) => {
        delete s.secretRef;
        s.serviceAccounts = [];
      }),
      'set secretRef, serviceAccounts or both',
    ],
    ['ServiceAccount without namespace', keyWith((s) => (s.serviceAccounts = [{ name: 'bot' }])), 'spec.serviceAccounts.0.namespace: required'],
    [
      'ServiceAccount name not a name nor *',
      keyWith((s) => (s.serviceAccounts = [{ namespace: 'a', name: 'Bot*' }])),
      'spec.serviceAccounts.0.name: must match pattern',
    ],
    ['zero budget', keyWith((s) => (s.budget.usd = 0)), 'spec.budget.usd: must be > 0'],
    ['unknown budget period', keyWith((s) => (s.budget.period = 'year')), 'spec.budget.period: must be one of day, week, month'],
    ['expiresAt not a time', keyWith((s) => (s.expiresAt = 'tomorrow')), 'spec.expiresAt: must match format "date-time"'],
    ['time zone with spaces', keyWith((s) => (s.budget.timezone = 'Paris time')), 'spec.budget.timezone: must match pattern'],
    ['negative limit', keyWith((s) => (s.limits = { requestsPerMinute: -1 })), 'spec.limits.requestsPerMinute: must be >= 0'],
  ];

  test.each(cases)('%s', (_name, obj, message) => {
    const errors = validateObject(obj.kind as Kind, structuredClone(obj));
    expect(errors.join('\n')).toContain(message);
    // compile() (standalone mode) refuses the same object, so a file that validates locally applies cleanly.
    const secrets: K8sObject[] = [
      { metadata: { name: 'anthropic', namespace: 'team-a' }, stringData: { apiKey: 'x' } },
      { metadata: { name: 'client', namespace: 'team-a' }, stringData: { key: 'k' } },
    ];
    const { results } = compile({ routes: obj.kind === 'ModelRoute' ? [obj] : [], keys: obj.kind === 'ApiKey' ? [obj] : [], secrets, serial: 1 });
    expect(results[0]).toMatchObject({ accepted: false });
    expect(['InvalidSpec', 'InvalidTarget']).toContain(results[0].reason);
  });

  test('the good baselines pass', () => {
    expect(validateObject('ModelRoute', base())).toEqual([]);
    expect(
      validateObject(
        'ApiKey',
        keyWith(() => {}),
      ),
    ).toEqual([]);
  });

  test('schema defaults are applied the way the API server applies them', () => {
    const o: any = base();
    delete o.spec.retry;
    expect(validateObject('ModelRoute', o)).toEqual([]);
    expect(o.spec.retry).toEqual({ attempts: 2, on: ['429', '5xx', 'timeout', 'connect'] });
    expect(o.spec.targets[0]).toMatchObject({ weight: 1, priority: 0, timeoutSeconds: 600, connectTimeoutSeconds: 10, idleTimeoutSeconds: 300 });
    expect(schemaOf('ApiKey').properties.spec.properties.disabled.default).toBe(false);
  });
});

describe('the standalone loader is exactly as strict as the CRDs', () => {
  /**
   * An instance that sets every field the schema declares, plus one undeclared field in every
   * object the API server would prune (not maps, not preserve-unknown-fields, not metadata).
   * Returns the paths where the undeclared field sits.
   */
  function everyField(node: any, path: string, strictPaths: string[]): unknown {
    if (node.type === 'array') return node.items ? [everyField(node.items, `${path}.0`, strictPaths)] : [];
    if (node.type !== 'object') return 'x';
    if (node['x-kubernetes-preserve-unknown-fields'] || path === 'metadata') return { anything: 1 };
    if (typeof node.additionalProperties === 'object') return { someKey: everyField(node.additionalProperties, `${path}.someKey`, strictPaths) };
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(node.properties ?? {})) out[k] = everyField(v, path ? `${path}.${k}` : k, strictPaths);
    out.zzUndeclared = 1;
    strictPaths.push(path ? `${path}.zzUndeclared` : 'zzUndeclared');
    return out;
  }

  test.each(KINDS)('%s: every declared field is accepted, an undeclared one is refused at every level', (kind) => {
    const strictPaths: string[] = [];
    const obj = everyField(loadCrd(kind).spec.versions[0].schema.openAPIV3Schema, '', strictPaths) as Record<string, any>;
    obj.metadata = { name: 'x', namespace: 'y', labels: { a: 'b' } };
    const reported = unknownFields(kind, obj).map((m) => m.split(':')[0]);
    expect(reported.sort()).toEqual(strictPaths.sort());
    expect(strictPaths).toEqual(expect.arrayContaining(['zzUndeclared', 'spec.zzUndeclared']));
    expect(strictPaths.length).toBeGreaterThan(5);
  });

  test('typos get the closest sibling from the schema', () => {
    const r = route('r', 'http://u');
    (r.spec as any).modle = 'm';
    (r.spec as any).retry = { attemps: 3 };
    // In the object's own field order (retry was set before modle was added).
    expect(unknownFields('ModelRoute', r)).toEqual([
      'spec.retry.attemps: unknown field "attemps"; did you mean "attempts"?',
      'spec.modle: unknown field "modle"; did you mean "model"?',
    ]);
    const k = apiKey('k', 'client', { limits: { requestPerMinute: 5 } });
    expect(unknownFields('ApiKey', k)).toEqual(['spec.limits.requestPerMinute: unknown field "requestPerMinute"; did you mean "requestsPerMinute"?']);
  });
});

import { createHash } from 'node:crypto';
import type { ConfigSnapshot, KeySnapshot, ProviderName, RouteSnapshot, ShadowSnapshot, TargetSnapshot } from './snapshot';
import { checkOpenAIOptions } from '../providers/openai/options';
import { checkCloudOptions } from '../providers/cloud-options';
import { bedrockBaseURL, vertexBaseURL } from './cloud-endpoints';
import { validateAndDefault, type Kind } from './crd-schema';
import { objectKey, type K8sObject } from './k8s-object';

export const DEFAULT_BASE_URLS: Record<ProviderName, (region: string) => string> = {
  anthropic: () => 'https://api.anthropic.com',
  openai: () => 'https://api.openai.com/v1',
  gemini: () => 'https://generativelanguage.googleapis.com/v1beta',
  bedrock: bedrockBaseURL,
  vertex: vertexBaseURL,
};

/** The Secret key a credentialsRef reads when it names none. */
const DEFAULT_SECRET_KEY: Record<ProviderName, string> = {
  anthropic: 'apiKey',
  openai: 'apiKey',
  gemini: 'apiKey',
  bedrock: 'apiKey',
  vertex: 'service-account.json',
};

const CLOUDS = new Set<ProviderName>(['bedrock', 'vertex']);

export interface CompileInput {
  routes: K8sObject[];
  keys: K8sObject[];
  secrets: K8sObject[];
  /** Stamped on the snapshot; the caller owns the clock so compile() stays pure. */
  serial: number;
  /** Ready gateway pods the snapshot goes to; local limit stores divide by it. */
  gateways?: number;
}

export type Reason =
  'Accepted' | 'InvalidSpec' | 'SecretNotFound' | 'SecretKeyNotFound' | 'InvalidTarget' | 'DuplicateModel' | 'DuplicateKey' | 'DuplicateServiceAccount';

export interface ObjectResult {
  kind: Kind;
  /** `namespace/name`. */
  key: string;
  generation?: number;
  accepted: boolean;
  reason: Reason;
  message: string;
  /** Field-level problems, each `path: message`. */
  errors: string[];
  /** ModelRoute only: whether every target has a price (budgets and cost metrics need one). */
  priced?: boolean;
  /** ModelRoute only: its shadows as compiled (status counts are per revision). */
  shadows?: Array<{ name: string; revision: string }>;
}

export interface CompileResult {
  snapshot: ConfigSnapshot;
  results: ObjectResult[];
}

class Rejection extends Error {
  constructor(
    readonly reason: Reason,
    message: string,
    readonly errors: string[] = [],
  ) {
    super(message);
  }
}

/**
 * The pure compiler from custom resources and Secrets to the gateway's ConfigSnapshot. Standalone
 * mode and the operator both call it, so the two behave the same. One bad object is rejected on
 * its own and never blocks the others.
 */
export function compile(input: CompileInput): CompileResult {
  const secrets = new Map(input.secrets.map((s) => [objectKey(s), s]));
  const results: ObjectResult[] = [];
  const routes: RouteSnapshot[] = [];
  const keys: KeySnapshot[] = [];

  // Oldest first, so the route that claimed a name first keeps it when a newer one collides.
  const claimed = new Map<string, string>();
  for (const obj of [...input.routes].sort(byAge)) {
    const key = objectKey(obj);
    try {
      const spec = checked('ModelRoute', obj);
      const route = compileRoute(obj, spec, secrets);
      for (const name of [route.model, ...route.aliases]) {
        const holder = claimed.get(name);
        if (holder) throw new Rejection('DuplicateModel', `model name '${name}' is already served by ModelRoute ${holder}`);
      }
      for (const name of [route.model, ...route.aliases]) claimed.set(name, key);
      routes.push(route);
      const priced = route.targets.every((t) => hasPrice(t.pricing ?? route.pricing));
      results.push({
        kind: 'ModelRoute',
        key,
        generation: obj.metadata.generation,
        accepted: true,
        reason: 'Accepted',
        message: `serves ${[route.model, ...route.aliases].join(', ')} with ${route.targets.length} target(s)${route.shadows ? ` and ${route.shadows.length} shadow(s)` : ''}`,
        errors: [],
        priced,
        ...(route.shadows && { shadows: route.shadows.map((s) => ({ name: s.name, revision: s.revision })) }),
      });
    } catch (err) {
      results.push(rejected('ModelRoute', obj, err));
    }
  }

  const digests = new Map<string, string>();
  // `namespace/name` (or `namespace/*`) → the ApiKey admitting it: a token must map to one key.
  const accounts = new Map<string, string>();
  for (const obj of [...input.keys].sort(byAge)) {
    const key = objectKey(obj);
    try {
      const spec = checked('ApiKey', obj);
      const k = compileKey(obj, spec, secrets);
      const holder = k.sha256 && digests.get(k.sha256);
      if (holder) throw new Rejection('DuplicateKey', `the key in Secret ${spec.secretRef.name} is the same key ApiKey ${holder} uses`);
      const sas = (k.serviceAccounts ?? []).map((sa) => `${sa.namespace}/${sa.name}`);
      for (const sa of sas) {
        const other = accounts.get(sa);
        if (other) throw new Rejection('DuplicateServiceAccount', `spec.serviceAccounts: ServiceAccount ${sa} is already admitted by ApiKey ${other}`);
      }
      if (new Set(sas).size !== sas.length) throw new Rejection('InvalidSpec', 'spec.serviceAccounts: entries must be unique');
      if (k.sha256) digests.set(k.sha256, key);
      for (const sa of sas) accounts.set(sa, key);
      keys.push(k);
      const how = [k.sha256 ? 'key is valid' : '', sas.length ? `admits ServiceAccount(s) ${sas.join(', ')}` : ''].filter(Boolean).join('; ');
      results.push({ kind: 'ApiKey', key, generation: obj.metadata.generation, accepted: true, reason: 'Accepted', message: how, errors: [] });
    } catch (err) {
      results.push(rejected('ApiKey', obj, err));
    }
  }

  routes.sort((a, b) => a.name.localeCompare(b.name));
  keys.sort((a, b) => a.name.localeCompare(b.name));
  const content = { routes, keys, gateways: input.gateways ?? 1 };
  const version = createHash('sha256').update(JSON.stringify(content)).digest('hex').slice(0, 16);
  return {
    snapshot: { version, serial: input.serial, generatedAt: new Date(input.serial).toISOString(), ...content },
    results,
  };
}

function checked(kind: Kind, obj: K8sObject): any {
  // Validation fills in CRD defaults; work on a copy so the caller's object is untouched.
  const copy = structuredClone({ apiVersion: obj.apiVersion, kind: obj.kind, metadata: {}, spec: obj.spec });
  const errors = validateAndDefault(kind, copy);
  if (errors.length) throw new Rejection('InvalidSpec', errors.join('; '), errors);
  return copy.spec;
}

function compileRoute(obj: K8sObject, spec: any, secrets: Map<string, K8sObject>): RouteSnapshot {
  const ns = obj.metadata.namespace ?? 'default';
  const targets: TargetSnapshot[] = spec.targets.map((t: any, i: number) => compileTarget(t, `spec.targets.${i}`, ns, secrets));
  const priorities = new Set(targets.map((t) => t.priority));
  for (const p of priorities) {
    if (targets.filter((t) => t.priority === p).every((t) => t.weight === 0)) {
      throw new Rejection('InvalidTarget', `spec.targets: every target with priority ${p} has weight 0, so none would get traffic`);
    }
  }
  const route: RouteSnapshot = {
    name: objectKey(obj),
    model: spec.model,
    aliases: spec.aliases ?? [],
    targets,
    retry: { attempts: spec.retry.attempts, on: spec.retry.on },
  };
  if (new Set(route.aliases).size !== route.aliases.length) throw new Rejection('InvalidSpec', 'spec.aliases: aliases must be unique');
  if (route.aliases.includes(route.model)) throw new Rejection('InvalidSpec', 'spec.aliases: an alias repeats spec.model');
  if (spec.displayName) route.displayName = spec.displayName;
  if (obj.metadata.creationTimestamp) route.createdAt = obj.metadata.creationTimestamp;
  if (spec.limits && Object.keys(spec.limits).length) route.limits = spec.limits;
  if (spec.pricing && Object.keys(spec.pricing).length) route.pricing = spec.pricing;
  if (spec.shadows?.length) route.shadows = compileShadows(spec.shadows, ns, secrets);
  return route;
}

function compileShadows(list: any[], ns: string, secrets: Map<string, K8sObject>): ShadowSnapshot[] {
  const names = new Set<string>();
  return list.map((s: any, i: number) => {
    // The CRD's CEL rule says the same to kubectl; a standalone file has no API server to ask.
    if (names.has(s.name)) throw new Rejection('InvalidSpec', `spec.shadows.${i}.name: '${s.name}' is already the name of another shadow`);
    names.add(s.name);
    const target = compileTarget(s.target, `spec.shadows.${i}.target`, ns, secrets);
    const settings = { name: s.name, percent: s.percent, sampleBy: s.sampleBy, timeoutSeconds: s.timeoutSeconds, maxConcurrent: s.maxConcurrent };
    // Credentials and headers (which may carry one) stay out of the revision, which status shows.
    const { apiKey: _key, headers: _headers, aws: _aws, googleServiceAccount: _google, ...visible } = target;
    const revision = createHash('sha256')
      .update(JSON.stringify({ ...settings, target: visible }))
      .digest('hex')
      .slice(0, 12);
    return { ...settings, target, revision };
  });
}

/** One target (or a shadow's target): defaults per provider, the Secret resolved, options checked. `at` names it in messages. */
export function compileTarget(t: any, at: string, ns: string, secrets: Map<string, K8sObject>): TargetSnapshot {
  const provider = t.provider as ProviderName;
  if (CLOUDS.has(provider) && !t.region) throw new Rejection('InvalidTarget', `${at}.region: required for provider ${provider}`);
  if (t.project !== undefined && provider !== 'vertex') throw new Rejection('InvalidTarget', `${at}.project: only for provider vertex`);
  if (t.region !== undefined && !CLOUDS.has(provider)) throw new Rejection('InvalidTarget', `${at}.region: only for providers bedrock and vertex`);
  const target: TargetSnapshot = {
    provider,
    model: t.model,
    baseURL: t.baseURL ?? DEFAULT_BASE_URLS[provider](t.region),
    weight: t.weight,
    priority: t.priority,
    connectTimeoutSeconds: t.connectTimeoutSeconds,
    timeoutSeconds: t.timeoutSeconds,
    idleTimeoutSeconds: t.idleTimeoutSeconds,
  };
  try {
    new URL(target.baseURL);
  } catch {
    // The value is not echoed: a malformed URL may still carry credentials, and this message
    // lands in status and Events.
    throw new Rejection('InvalidTarget', `${at}.baseURL: not a valid URL`);
  }
  if (t.region) target.region = t.region;
  if (t.project) target.project = t.project;
  if (t.maxDurationSeconds !== undefined) target.maxDurationSeconds = t.maxDurationSeconds;
  if (t.credentialsRef) resolveCredentials(target, t.credentialsRef, `${at}.credentialsRef`, ns, secrets);
  if (t.headers && Object.keys(t.headers).length) target.headers = t.headers;
  if (t.options && Object.keys(t.options).length) target.options = t.options;
  // Provider options are free-form in the CRD; a misspelt one would otherwise do nothing, silently.
  const problems =
    provider === 'openai' ? checkOpenAIOptions(t.options) : provider === 'bedrock' || provider === 'vertex' ? checkCloudOptions(provider, t.options) : [];
  const bad = problems.map((e) => `${at}.options.${e}`);
  if (bad.length) throw new Rejection('InvalidTarget', bad.join('; '), bad);
  if (t.pricing) target.pricing = t.pricing;
  return target;
}

/**
 * The target's Secret. Bedrock: AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN)
 * when present, else a Bedrock API key under `key`. Vertex: a service-account JSON key. Others:
 * the API key. Messages name Secret keys, never values.
 */
function resolveCredentials(target: TargetSnapshot, ref: { name: string; key?: string }, at: string, ns: string, secrets: Map<string, K8sObject>): void {
  const key = ref.key ?? DEFAULT_SECRET_KEY[target.provider];
  if (target.provider === 'bedrock' && !ref.key) {
    const id = optionalSecretValue(secrets, ns, ref.name, 'AWS_ACCESS_KEY_ID', at);
    if (id !== undefined) {
      const secret = optionalSecretValue(secrets, ns, ref.name, 'AWS_SECRET_ACCESS_KEY', at);
      if (!id || !secret) throw new Rejection('SecretKeyNotFound', `${at}: Secret ${ns}/${ref.name} has AWS_ACCESS_KEY_ID but no AWS_SECRET_ACCESS_KEY`);
      const token = optionalSecretValue(secrets, ns, ref.name, 'AWS_SESSION_TOKEN', at);
      target.aws = { accessKeyId: id, secretAccessKey: secret, ...(token ? { sessionToken: token } : {}) };
      return;
    }
  }
  const value = secretValue(secrets, ns, { name: ref.name, key }, at);
  if (target.provider !== 'vertex') {
    target.apiKey = value;
    return;
  }
  let parsed: any;
  try {
    parsed = JSON.parse(value);
  } catch {
    parsed = undefined;
  }
  if (!parsed || typeof parsed !== 'object' || typeof parsed.type !== 'string')
    throw new Rejection('InvalidTarget', `${at}: Secret ${ns}/${ref.name} key '${key}' is not a Google credentials JSON file (no "type")`);
  if (parsed.type === 'service_account' && (typeof parsed.client_email !== 'string' || typeof parsed.private_key !== 'string'))
    throw new Rejection('InvalidTarget', `${at}: Secret ${ns}/${ref.name} key '${key}' is a service-account key without client_email or private_key`);
  target.googleServiceAccount = value;
}

/** A Secret's value under `key`, undefined when it has no such key; a missing Secret is refused. */
function optionalSecretValue(secrets: Map<string, K8sObject>, ns: string, name: string, key: string, at: string): string | undefined {
  const secret = secrets.get(`${ns}/${name}`);
  if (!secret) throw new Rejection('SecretNotFound', `${at}: Secret ${ns}/${name} not found`);
  if (secret.stringData && key in secret.stringData) return secret.stringData[key];
  if (secret.data && key in secret.data) return Buffer.from(secret.data[key], 'base64').toString('utf8');
  return undefined;
}

function compileKey(obj: K8sObject, spec: any, secrets: Map<string, K8sObject>): KeySnapshot {
  const ns = obj.metadata.namespace ?? 'default';
  const serviceAccounts: { namespace: string; name: string }[] = spec.serviceAccounts ?? [];
  // The CRD's CEL rule says the same to kubectl; a standalone file has no API server to ask.
  if (!spec.secretRef && !serviceAccounts.length) throw new Rejection('InvalidSpec', 'spec: set secretRef, serviceAccounts or both');
  const k: KeySnapshot = { name: objectKey(obj), allowedModels: spec.allowedModels ?? [] };
  if (spec.secretRef) {
    const value = secretValue(secrets, ns, spec.secretRef, 'spec.secretRef');
    if (!value) throw new Rejection('SecretKeyNotFound', `Secret ${ns}/${spec.secretRef.name} key '${spec.secretRef.key}' is empty`);
    k.sha256 = createHash('sha256').update(value, 'utf8').digest('hex');
  }
  if (serviceAccounts.length) k.serviceAccounts = serviceAccounts.map((sa) => ({ namespace: sa.namespace, name: sa.name }));
  if (spec.limits && Object.keys(spec.limits).length) k.limits = spec.limits;
  if (spec.disabled) k.disabled = true;
  if (spec.expiresAt) k.expiresAt = new Date(spec.expiresAt).toISOString();
  if (spec.budget) {
    if (spec.budget.timezone && !validTimezone(spec.budget.timezone)) {
      throw new Rejection('InvalidSpec', `spec.budget.timezone: '${spec.budget.timezone}' is not an IANA time zone`);
    }
    k.budget = spec.budget;
  }
  return k;
}

function secretValue(secrets: Map<string, K8sObject>, ns: string, ref: { name: string; key: string }, field: string): string {
  const value = optionalSecretValue(secrets, ns, ref.name, ref.key, field);
  if (value === undefined) throw new Rejection('SecretKeyNotFound', `${field}: Secret ${ns}/${ref.name} has no key '${ref.key}'`);
  return value;
}

function rejected(kind: Kind, obj: K8sObject, err: unknown): ObjectResult {
  const r = err instanceof Rejection ? err : new Rejection('InvalidSpec', String((err as Error)?.message ?? err));
  return {
    kind,
    key: objectKey(obj),
    generation: obj.metadata.generation,
    accepted: false,
    reason: r.reason,
    message: r.message,
    errors: r.errors.length ? r.errors : [r.message],
  };
}

function byAge(a: K8sObject, b: K8sObject): number {
  const ta = a.metadata.creationTimestamp ?? '';
  const tb = b.metadata.creationTimestamp ?? '';
  return ta < tb ? -1 : ta > tb ? 1 : objectKey(a).localeCompare(objectKey(b));
}

function hasPrice(p: RouteSnapshot['pricing']): boolean {
  return !!p && (p.inputPerMTok !== undefined || p.outputPerMTok !== undefined);
}

function validTimezone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { compile, type CompileResult } from './compile';
import { unknownFields, type Kind } from './crd-schema';
import { GROUP, VERSION, objectKey, type K8sObject } from './k8s-object';

/** A configuration problem located for a human: file, document and field. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
    this.name = 'ConfigError';
  }
}

// Namespaces are accepted (and ignored) so a directory made for `kubectl apply -f` validates as is.
const KINDS = ['ModelRoute', 'ApiKey', 'Secret', 'Namespace'];
const API_VERSIONS: Record<string, string> = { ModelRoute: `${GROUP}/${VERSION}`, ApiKey: `${GROUP}/${VERSION}`, Secret: 'v1', Namespace: 'v1' };
const EXTENSIONS = /\.(ya?ml|json)$/i;

interface Located {
  obj: K8sObject;
  where: string;
  /** Position among all documents of all files, so problems come out in reading order. */
  order: number;
}

interface Source {
  file: string;
  text: string;
}

/**
 * Reads a standalone configuration file: the same ModelRoute, ApiKey and Secret documents one
 * would apply to a cluster, with `${VAR}` / `${VAR:-default}` expanded from the environment in
 * string values (`$${` writes a literal `${`). Compiles it with the operator's compile(); any
 * rejected object is an error, since a standalone gateway has nobody to report status to.
 */
export function loadConfigFile(file: string, env: NodeJS.ProcessEnv = process.env, serial = Date.now()): CompileResult {
  return loadConfigFiles([file], env, serial);
}

/**
 * Files and directories, as `kubectl apply -f` takes them: a directory contributes every .yaml,
 * .yml and .json file below it, in name order. All documents form one configuration (a route in
 * one file may use a Secret from another).
 */
export function loadConfigFiles(paths: string[], env: NodeJS.ProcessEnv = process.env, serial = Date.now()): CompileResult {
  const problems: string[] = [];
  const sources: Source[] = [];
  for (const p of paths) {
    for (const file of expandPath(p, true, problems)) {
      try {
        sources.push({ file, text: readFileSync(file, 'utf8') });
      } catch (err) {
        problems.push(`${file}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
    }
  }
  if (problems.length) throw new ConfigError(problems);
  return compileSources(sources, env, serial);
}

function expandPath(path: string, named: boolean, problems: string[]): string[] {
  let st;
  try {
    st = statSync(path);
  } catch (err) {
    problems.push(`${path}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    return [];
  }
  if (!st.isDirectory()) return named || EXTENSIONS.test(path) ? [path] : [];
  const found = readdirSync(path)
    .sort()
    .flatMap((name) => expandPath(join(path, name), false, problems));
  if (named && !found.length) problems.push(`${path}: no .yaml, .yml or .json files in this directory`);
  return found;
}

export function compileYaml(text: string, file: string, env: NodeJS.ProcessEnv, serial: number): CompileResult {
  return compileSources([{ file, text }], env, serial);
}

function compileSources(sources: Source[], env: NodeJS.ProcessEnv, serial: number): CompileResult {
  const problems: { order: number; text: string }[] = [];
  const located: Located[] = [];
  let order = 0;
  for (const { file, text } of sources) {
    let docs: unknown[];
    try {
      docs = yaml.loadAll(text);
    } catch (err) {
      const e = err as yaml.YAMLException;
      problems.push({ order: order++, text: `${file}:${(e.mark?.line ?? 0) + 1}: YAML syntax error: ${e.reason ?? e.message}` });
      continue;
    }
    // Like `kubectl apply`, a file with no objects is a mistake (a wrong path, a commented-out file).
    if (!docs.some((d) => d !== null && d !== undefined)) problems.push({ order: order++, text: `${file}: holds no objects (empty, or only comments)` });
    docs.forEach((doc, i) => {
      const at = order++;
      const problem = (text: string) => problems.push({ order: at, text });
      if (doc === null || doc === undefined) return; // empty document between ---
      const n = i + 1;
      if (typeof doc !== 'object' || Array.isArray(doc)) {
        problem(`${file}: document ${n}: expected a Kubernetes object, got ${Array.isArray(doc) ? 'a list' : typeof doc}`);
        return;
      }
      const obj = doc as K8sObject;
      const name = obj.metadata?.name;
      const scoped = obj.kind !== 'Namespace';
      const where = `${file}: document ${n} (${obj.kind ?? 'no kind'} ${name ? `${scoped ? `${obj.metadata.namespace ?? 'default'}/` : ''}${name}` : '(no name)'})`;
      if (!KINDS.includes(obj.kind ?? '')) {
        problem(`${where}: kind must be one of ${KINDS.join(', ')}`);
        return;
      }
      const apiVersion = API_VERSIONS[obj.kind!];
      if (obj.apiVersion === undefined) problem(`${where}: apiVersion: required (kind ${obj.kind} is ${apiVersion})`);
      else if (obj.apiVersion !== apiVersion) problem(`${where}: apiVersion: '${String(obj.apiVersion)}' does not serve ${obj.kind}; use ${apiVersion}`);
      if (typeof name !== 'string' || !name) {
        problem(`${where}: metadata.name: required`);
        return;
      }
      for (const u of unknownFields(obj.kind as Kind | 'Secret' | 'Namespace', obj)) problem(`${where}: ${u}`);
      if (scoped) obj.metadata.namespace ??= 'default';
      const expanded = expand(obj, env, '', (path, msg) => problem(`${where}: ${path}: ${msg}`));
      located.push({ obj: expanded as K8sObject, where, order: at });
    });
  }
  const byKey = new Map<string, Located>();
  for (const l of located) {
    const k = `${l.obj.kind} ${objectKey(l.obj)}`;
    if (byKey.has(k)) problems.push({ order: l.order, text: `${l.where}: duplicates ${byKey.get(k)!.where}` });
    byKey.set(k, l);
  }
  const fail = () => {
    // Sorting is stable: one document's problems keep the order they were found in.
    throw new ConfigError(problems.sort((a, b) => a.order - b.order).map((p) => p.text));
  };
  if (problems.length) fail();
  const pick = (kind: string) => located.filter((l) => l.obj.kind === kind).map((l) => l.obj);
  const result = compile({ routes: pick('ModelRoute'), keys: pick('ApiKey'), secrets: pick('Secret'), serial });
  for (const r of result.results) {
    if (r.accepted) continue;
    const l = byKey.get(`${r.kind} ${r.key}`)!;
    for (const e of r.errors)
      problems.push({ order: l.order, text: `${l.where}: ${r.errors.length === 1 && r.reason !== 'InvalidSpec' ? `${r.reason}: ` : ''}${e}` });
  }
  if (problems.length) fail();
  return result;
}

function expand(value: unknown, env: NodeJS.ProcessEnv, path: string, problem: (path: string, msg: string) => void): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}/g, (whole, escape: string, name: string, hasDefault?: string, def?: string) => {
      if (escape) return whole.slice(1);
      const v = env[name];
      if (v !== undefined && v !== '') return v;
      if (hasDefault !== undefined) return def ?? '';
      if (v === '') return '';
      problem(path || '(value)', `environment variable ${name} is not set (write \${${name}:-} to allow it empty)`);
      return '';
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => expand(v, env, `${path}.${i}`, problem));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, expand(v, env, path ? `${path}.${k}` : k, problem)]));
  }
  return value;
}

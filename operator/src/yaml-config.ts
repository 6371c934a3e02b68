import { readFileSync } from 'node:fs';
import yaml from 'js-yaml';
import { compile, type CompileResult } from './compile';
import { objectKey, type K8sObject } from './types';

/** A configuration problem located for a human: file, document and field. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
    this.name = 'ConfigError';
  }
}

const KINDS = ['ModelRoute', 'ApiKey', 'Secret'];

interface Located {
  obj: K8sObject;
  where: string;
}

/**
 * Reads a standalone configuration file: the same ModelRoute, ApiKey and Secret documents one
 * would apply to a cluster, with `${VAR}` / `${VAR:-default}` expanded from the environment in
 * string values (`$${` writes a literal `${`). Compiles it with the operator's compile(); any
 * rejected object is an error, since a standalone gateway has nobody to report status to.
 */
export function loadConfigFile(file: string, env: NodeJS.ProcessEnv = process.env, serial = Date.now()): CompileResult {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError([`${file}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`]);
  }
  return compileYaml(text, file, env, serial);
}

export function compileYaml(text: string, file: string, env: NodeJS.ProcessEnv, serial: number): CompileResult {
  let docs: unknown[];
  try {
    docs = yaml.loadAll(text);
  } catch (err) {
    const e = err as yaml.YAMLException;
    throw new ConfigError([`${file}:${(e.mark?.line ?? 0) + 1}: YAML syntax error: ${e.reason ?? e.message}`]);
  }
  const problems: string[] = [];
  const located: Located[] = [];
  docs.forEach((doc, i) => {
    if (doc === null || doc === undefined) return; // empty document between ---
    const n = i + 1;
    if (typeof doc !== 'object' || Array.isArray(doc)) {
      problems.push(`${file}: document ${n}: expected a Kubernetes object, got ${Array.isArray(doc) ? 'a list' : typeof doc}`);
      return;
    }
    const obj = doc as K8sObject;
    const name = obj.metadata?.name;
    const where = `${file}: document ${n} (${obj.kind ?? 'no kind'} ${name ? `${obj.metadata.namespace ?? 'default'}/${name}` : '(no name)'})`;
    if (!KINDS.includes(obj.kind ?? '')) {
      problems.push(`${where}: kind must be one of ${KINDS.join(', ')}`);
      return;
    }
    if (typeof name !== 'string' || !name) {
      problems.push(`${where}: metadata.name: required`);
      return;
    }
    obj.metadata.namespace ??= 'default';
    const expanded = expand(obj, env, '', (path, msg) => problems.push(`${where}: ${path}: ${msg}`));
    located.push({ obj: expanded as K8sObject, where });
  });
  const byKey = new Map<string, Located>();
  for (const l of located) {
    const k = `${l.obj.kind} ${objectKey(l.obj)}`;
    if (byKey.has(k)) problems.push(`${l.where}: duplicates ${byKey.get(k)!.where}`);
    byKey.set(k, l);
  }
  if (problems.length) throw new ConfigError(problems);
  const pick = (kind: string) => located.filter((l) => l.obj.kind === kind).map((l) => l.obj);
  const result = compile({ routes: pick('ModelRoute'), keys: pick('ApiKey'), secrets: pick('Secret'), serial });
  for (const r of result.results) {
    if (r.accepted) continue;
    const where = byKey.get(`${r.kind} ${r.key}`)!.where;
    for (const e of r.errors) problems.push(`${where}: ${r.errors.length === 1 && r.reason !== 'InvalidSpec' ? `${r.reason}: ` : ''}${e}`);
  }
  if (problems.length) throw new ConfigError(problems);
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

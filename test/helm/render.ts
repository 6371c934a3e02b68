/**
 * Renders charts/switchyard like `helm template`, with the Go renderer in render.go (Go's
 * text/template + sprig, the libraries Helm itself uses). The renderer is built once, offline, in
 * GOPATH mode against Debian's golang-github-masterminds-sprig-dev, and cached under .tmp/ by the
 * hash of its source and the Go version.
 */
import { execFileSync, execFile, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yaml from 'js-yaml';

export const ROOT = join(__dirname, '..', '..');
export const CHART = join(ROOT, 'charts', 'switchyard');
const SOURCE = join(__dirname, 'render.go');
const CACHE = join(ROOT, '.tmp', 'helm-render');
const GOPATH = '/usr/share/gocode';

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [k: string]: any };
  [k: string]: any;
}

export interface Rendered {
  /** Every document, in template order, tagged with the template it came from. */
  docs: Array<K8sObject & { _source: string }>;
  /** Raw text per template (templates/x.yaml → text). */
  manifests: Record<string, string>;
  notes: string;
  /** The merged values the templates saw. */
  values: any;
}

export interface RenderOptions {
  name?: string;
  namespace?: string;
  /** Objects `lookup` finds (e.g. the admin token Secret of an earlier install). */
  lookup?: K8sObject[];
  apiVersions?: string[];
  kubeVersion?: string;
  upgrade?: boolean;
  /** Fail on references to missing values (`helm lint --strict`). */
  strict?: boolean;
}

/**
 * GOPATH mode against Debian's packages: no module download. Go 1.19's standard library ships
 * prebuilt for cgo, so cgo stays on where a C compiler exists (a cold build takes ~5 s instead
 * of ~15 s); without one, CGO_ENABLED=0 (sprig imports net).
 */
const goEnv = () => {
  const hasCC = spawnSync('gcc', ['--version'], { stdio: 'ignore' }).status === 0;
  return { ...process.env, GO111MODULE: 'off', GOPATH, GOFLAGS: '', GOCACHE: join(CACHE, 'gocache'), CGO_ENABLED: hasCC ? '1' : '0' };
};

let binary: string | undefined;

/** Path of the built renderer, building it when its source or the Go toolchain changed. */
export function renderer(): string {
  if (binary) return binary;
  let goVersion: string;
  try {
    goVersion = execFileSync('go', ['version'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error('the chart tests need Go: apt-get install golang-go golang-github-masterminds-sprig-dev (scripts/test does it)');
  }
  if (!existsSync(join(GOPATH, 'src/github.com/Masterminds/sprig'))) {
    throw new Error('the chart tests need sprig: apt-get install golang-github-masterminds-sprig-dev (scripts/test does it)');
  }
  const hash = createHash('sha256').update(readFileSync(SOURCE)).update(goVersion).digest('hex').slice(0, 16);
  const out = join(CACHE, `render-${hash}`);
  if (!existsSync(out)) {
    mkdirSync(CACHE, { recursive: true });
    const tmp = `${out}.${process.pid}.tmp`;
    execFileSync('go', ['build', '-o', tmp, SOURCE], { env: goEnv(), cwd: __dirname, stdio: ['ignore', 'ignore', 'pipe'] });
    renameSync(tmp, out); // atomic: parallel jest workers may build at the same time
  }
  binary = out;
  return out;
}

/** Renders the chart with `values` over its values.yaml; rejects with the renderer's message. */
export function render(values: object = {}, opts: RenderOptions = {}): Promise<Rendered> {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-chart-'));
  const valuesFile = join(dir, 'values.json');
  writeFileSync(valuesFile, JSON.stringify(values));
  const args = ['-chart', CHART, '-name', opts.name ?? 'switchyard', '-namespace', opts.namespace ?? 'switchyard', '-f', valuesFile];
  if (opts.lookup) {
    const lookupFile = join(dir, 'lookup.json');
    writeFileSync(lookupFile, JSON.stringify(opts.lookup));
    args.push('-lookup', lookupFile);
  }
  if (opts.apiVersions) args.push('-api-versions', opts.apiVersions.join(','));
  if (opts.kubeVersion) args.push('-kube-version', opts.kubeVersion);
  if (opts.upgrade) args.push('-upgrade');
  if (opts.strict) args.push('-strict');
  return new Promise((resolve, reject) => {
    execFile(renderer(), args, { maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      rmSync(dir, { recursive: true, force: true });
      if (err) return reject(new Error(stderr.trim() || err.message));
      try {
        const out = JSON.parse(stdout) as { manifests: Record<string, string>; notes: string; values: any };
        resolve({ ...out, docs: parseManifests(out.manifests) });
      } catch (e) {
        reject(e as Error);
      }
    });
  });
}

/** Splits rendered templates into YAML documents as Helm does, dropping empty ones. */
export function parseManifests(manifests: Record<string, string>): Rendered['docs'] {
  const docs: Rendered['docs'] = [];
  for (const source of Object.keys(manifests).sort()) {
    for (const text of manifests[source].split(/^---\s*$/m)) {
      let doc: unknown;
      try {
        doc = yaml.load(text);
      } catch (e) {
        throw new Error(`${source}: rendered YAML does not parse: ${(e as Error).message}\n${text}`, { cause: e });
      }
      if (doc === null || doc === undefined) continue;
      if (typeof doc !== 'object' || Array.isArray(doc)) throw new Error(`${source}: a document is not an object:\n${text}`);
      docs.push({ ...(doc as K8sObject), _source: source });
    }
  }
  return docs;
}

/** The one document of a kind (and name, when given); throws when there is not exactly one. */
export function find(r: Rendered, kind: string, name?: string): K8sObject {
  const hits = r.docs.filter((d) => d.kind === kind && (name === undefined || d.metadata.name === name));
  if (hits.length !== 1) throw new Error(`expected one ${kind}${name ? ` ${name}` : ''}, found ${hits.length}: ${hits.map((h) => h.metadata.name).join(', ')}`);
  return hits[0];
}

/**
 * The container image, checked statically (no Docker daemon in CI): the base pinned by digest on a
 * Node LTS, no package manager left in the runtime stage, the OCI labels, and the size budget of
 * the production node_modules it ships, computed from package-lock.json and the installed files.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '..');
const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
/** Stages with their instructions, continuation lines joined. */
const stages = dockerfile
  .replace(/\\\n/g, ' ')
  .split(/^FROM /m)
  .slice(1)
  .map((text) => ({ from: text.split('\n')[0], text }));
const runtime = stages[stages.length - 1];

describe('Dockerfile', () => {
  test('every stage starts from one Node LTS base pinned by digest', () => {
    const m = /^ARG NODE_IMAGE=node:(\d+)-[\w-]*slim@sha256:[0-9a-f]{64}$/m.exec(dockerfile);
    expect(m).not.toBeNull();
    const major = Number(m![1]);
    expect(major % 2).toBe(0); // even majors become LTS
    expect(major).toBeGreaterThanOrEqual(22); // 20 is past its end of life (April 2026)
    for (const s of stages) expect(s.from).toMatch(/^\$\{NODE_IMAGE\}( AS \w+)?$/);
  });

  test('the runtime stage installs nothing and keeps no package manager', () => {
    const runs = runtime.text.split('\n').filter((l) => l.startsWith('RUN '));
    for (const r of runs) expect(r).not.toMatch(/\b(npm|npx|yarn|corepack|apt-get|apt|dpkg)\s+(?!-)\w/);
    const removed = runs.join(' ');
    for (const path of [
      '/usr/local/lib/node_modules/npm',
      '/usr/local/lib/node_modules/corepack',
      '/usr/local/bin/npm',
      '/usr/local/bin/npx',
      '/usr/local/bin/corepack',
      '/usr/local/bin/yarn',
      '/opt/yarn-v*',
      '/usr/bin/apt',
      '/usr/bin/apt-*',
      '/usr/bin/dpkg',
    ]) {
      expect([path, removed.includes(`rm -rf`) && removed.split(/\s+/).includes(path)]).toEqual([path, true]);
    }
    // tini comes from another stage, ready-made.
    expect(runtime.text).toMatch(/^COPY --from=tini \/usr\/bin\/tini \/usr\/bin\/tini$/m);
    expect(runtime.text).toMatch(/^COPY --from=deps \/app\/node_modules \.\/node_modules$/m);
  });

  test('OCI labels: source, version and revision from build arguments', () => {
    for (const [label, arg] of [
      ['source', 'SOURCE'],
      ['version', 'VERSION'],
      ['revision', 'REVISION'],
    ]) {
      expect(runtime.text).toMatch(new RegExp(`^ARG ${arg}=\\S+$`, 'm'));
      expect(runtime.text).toContain(`org.opencontainers.image.${label}="\${${arg}}"`);
    }
    expect(readFileSync(join(ROOT, 'docs/kubernetes.md'), 'utf8')).toMatch(/--build-arg VERSION=.*--build-arg REVISION=/s);
  });
});

// --- size budget ------------------------------------------------------------------------------

interface LockEntry {
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}
const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };

/** Where Node finds `name` from the package at `from`: its own node_modules, then its ancestors'. */
function resolve(from: string, name: string): string | undefined {
  let base = from;
  for (;;) {
    const candidate = `${base ? `${base}/` : ''}node_modules/${name}`;
    if (lock.packages[candidate]) return candidate;
    if (!base) return undefined;
    const i = base.lastIndexOf('/node_modules/');
    base = i < 0 ? '' : base.slice(0, i);
  }
}

/** The lock paths `npm ci --omit=dev` installs for these root dependencies. */
function closure(roots: string[]): Set<string> {
  const seen = new Set<string>();
  const stack = roots.map((n) => resolve('', n));
  while (stack.length) {
    const p = stack.pop();
    if (!p || seen.has(p)) continue;
    seen.add(p);
    const e = lock.packages[p];
    for (const d of Object.keys({ ...e.dependencies, ...e.optionalDependencies })) stack.push(resolve(p, d));
    for (const d of Object.keys(e.peerDependencies ?? {})) if (!e.peerDependenciesMeta?.[d]?.optional) stack.push(resolve(p, d));
  }
  return seen;
}

/** Bytes of a package's own files (its nested node_modules are packages of their own). */
function ownBytes(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === 'node_modules') continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) n += ownBytes(p);
    else if (e.isFile()) n += statSync(p).size;
  }
  return n;
}

const MB = 1e6;
const megabytes = (paths: Set<string>) => [...paths].reduce((n, p) => n + ownBytes(join(ROOT, p)), 0) / MB;

describe('image size budget', () => {
  const production = Object.keys(lock.packages['' as string].dependencies ?? {});
  const all = closure(production);

  test('the closure is what npm marks as production in the lock, and it is installed', () => {
    const marked = Object.entries(lock.packages)
      .filter(([k, e]) => k && !(e as any).dev && !(e as any).devOptional)
      .map(([k]) => k);
    expect([...all].sort()).toEqual(marked.sort());
    expect([...all].filter((p) => !existsSync(join(ROOT, p)))).toEqual([]);
  });

  test('the production node_modules stays within the budget docs/kubernetes.md states', () => {
    const readme = readFileSync(join(ROOT, 'docs/kubernetes.md'), 'utf8');
    const m = /\*\*Size budget: (\d+) MB\*\*/.exec(readme);
    expect(m).not.toBeNull();
    const size = megabytes(all);
    expect(size).toBeGreaterThan(10); // measured the real files
    expect(size).toBeLessThanOrEqual(Number(m![1]));
  });
});

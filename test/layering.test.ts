import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

/**
 * Imports flow one way (docs/DESIGN.md, "Layering"): every arrow between folders points down, so
 * a change to a lower layer never has to know about the ones above it. This reads the imports
 * of every source file and checks each cross-folder edge against the table below.
 */

const ROOT = resolve(__dirname, '..');
const GATEWAY = 'gateway/src';

/**
 * Who may import whom. A file's layer is its folder under gateway/src (`core`, `api`, ...), its
 * name for the files at the root (`gateway`, `features`, `cli`, ...), or `operator`. A layer may
 * always import itself and the leaves.
 */
const ALLOWED: Record<string, string[]> = {
  core: [],
  config: ['core'],
  providers: ['core', 'config'],
  routing: ['providers', 'core', 'config'],
  limits: ['core', 'config'],
  // The read-out publishes a gauge through the metrics it is handed.
  budget: ['limits', 'telemetry', 'core', 'config'],
  telemetry: ['routing', 'core', 'config'],
  api: ['routing', 'providers', 'limits', 'core', 'config'],
  // Shadow traffic records through the telemetry building blocks (series, spans, the access-log sink).
  shadow: ['telemetry', 'core', 'config'],
  admin: ['api', 'routing', 'core', 'config'],
  gateway: ['admin', 'api', 'routing', 'providers', 'limits', 'telemetry', 'shadow', 'core', 'config'],
  features: ['gateway', 'telemetry', 'limits', 'budget', 'shadow', 'core', 'config'],
  'cli-spec': ['config'],
  // `switchyard compare` is a client of the gateway over HTTP: it shares only the CLI's table type.
  compare: ['cli-spec'],
  commands: ['cli-spec', 'operator', 'compare'],
  cli: ['commands', 'cli-spec', 'features', 'gateway', 'core', 'config'],
  // budget and shadow: the types of the /admin/usage report it reads from the gateways.
  operator: ['config', 'budget', 'shadow', 'cli-spec'],
};

/**
 * Files every layer may import: the snapshot's data types, the logger, and the OpenAI and cloud
 * options checkers the compiler shares with the adapters. Each imports nothing of ours, so they sit below core.
 */
const LEAVES = ['gateway/src/config/snapshot.ts', 'gateway/src/log.ts', 'gateway/src/providers/openai/options.ts', 'gateway/src/providers/cloud-options.ts'];

/**
 * The feature installers plug a feature into the Gateway they are given: they name its type (the
 * composition root), the one upward edge the table allows, type-only.
 */
const INSTALLERS = ['gateway/src/limits/install.ts', 'gateway/src/budget/install.ts', 'gateway/src/telemetry/index.ts', 'gateway/src/shadow/install.ts'];

/**
 * Upward edges that remain, each with its reason. Listed by file so no new one slips in beside
 * them; a test below fails once one is gone, so the list shrinks with the code.
 */
const REMAINING: Array<[from: string, to: string, reason: string]> = [];

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory()) return sources(p);
    return e.name.endsWith('.ts') ? [p] : [];
  });
}

interface Edge {
  from: string;
  to: string;
  typeOnly: boolean;
}

/** Static imports and re-exports, `require()` and `import()` of relative paths, resolved to a file. */
function importsOf(file: string): Edge[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const found: Edge[] = [];
  const patterns = [
    /^\s*(import|export)\s+(type\s+)?[^'";]*?from\s+['"](\.[^'"]+)['"]/gm,
    /^\s*import\s+()()['"](\.[^'"]+)['"]/gm,
    /\b(require|import)\s*\(()\s*['"](\.[^'"]+)['"]\s*\)/g,
  ];
  for (const re of patterns) {
    for (const m of text.matchAll(re)) {
      const target = relative(ROOT, resolve(ROOT, dirname(file), m[3])).replace(/\.js$/, '');
      const to = existsSync(join(ROOT, target)) && statSync(join(ROOT, target)).isDirectory() ? `${target}/index.ts` : `${target}.ts`;
      found.push({ from: file, to, typeOnly: Boolean(m[2]) });
    }
  }
  return found;
}

function layerOf(file: string): string | undefined {
  if (file.startsWith('operator/')) return 'operator';
  if (!file.startsWith(`${GATEWAY}/`)) return undefined;
  const rest = file.slice(GATEWAY.length + 1).split('/');
  return rest.length > 1 ? rest[0] : rest[0].replace(/\.ts$/, '');
}

const files = [...sources(GATEWAY), ...sources('operator/src')];
const edges = files.flatMap(importsOf);

describe('layering: imports flow one way', () => {
  test('the parser sees the imports (a sanity check on the checker itself)', () => {
    expect(edges.length).toBeGreaterThan(200);
    expect(edges).toContainEqual({ from: 'gateway/src/routing/plan.ts', to: 'gateway/src/core/routes.ts', typeOnly: true });
    expect(edges).toContainEqual({ from: 'gateway/src/gateway.ts', to: 'gateway/src/providers/index.ts', typeOnly: false });
    expect(edges.some((e) => e.from === 'gateway/src/commands.ts' && e.to.startsWith('operator/'))).toBe(true);
  });

  test('every layer of the gateway and the operator is in the table', () => {
    const layers = new Set(files.map(layerOf));
    expect([...layers].filter((l) => l && !(l in ALLOWED) && !LEAVES.some((f) => layerOf(f) === l)).sort()).toEqual([]);
  });

  test('every import resolves to a file (so no edge escapes the check)', () => {
    const known = new Set(files);
    expect(edges.filter((e) => e.to.startsWith(`${GATEWAY}/`) || e.to.startsWith('operator/')).filter((e) => !known.has(e.to))).toEqual([]);
  });

  test('the leaves import nothing of ours', () => {
    expect(edges.filter((e) => LEAVES.includes(e.from))).toEqual([]);
  });

  test('every cross-layer import is an allowed downward edge', () => {
    const wrong = edges.filter((e) => {
      if (LEAVES.includes(e.to)) return false;
      const from = layerOf(e.from)!;
      const to = layerOf(e.to);
      if (to === undefined || to === from) return false;
      if (INSTALLERS.includes(e.from) && to === 'gateway' && e.typeOnly) return false;
      if (REMAINING.some(([f, t]) => f === e.from && t === e.to)) return false;
      return !ALLOWED[from].includes(to);
    });
    expect(wrong.map((e) => `${e.from} -> ${e.to}`)).toEqual([]);
  });

  test('each remaining upward edge is still there (drop it from REMAINING once it is gone)', () => {
    expect(REMAINING.filter(([f, t]) => !edges.some((e) => e.from === f && e.to === t))).toEqual([]);
  });

  test('the gateway loads the operator only through the lazy `operator` command', () => {
    const intoOperator = edges.filter((e) => e.from.startsWith(`${GATEWAY}/`) && e.to.startsWith('operator/'));
    expect(intoOperator.map((e) => e.from)).toEqual(intoOperator.map(() => 'gateway/src/commands.ts'));
    // Only the flag table (no client-node) is imported at load time; the operator itself is require()d when its command runs.
    const atLoad = intoOperator.filter(
      (e) =>
        !/\brequire\(/.test(
          readFileSync(join(ROOT, e.from), 'utf8')
            .split('\n')
            .find((l) => l.includes(e.to.replace(/\.ts$/, '').replace(/^.*operator\//, 'operator/'))) ?? '',
        ),
    );
    expect(atLoad.map((e) => e.to)).toEqual(['operator/src/options.ts']);
  });
});

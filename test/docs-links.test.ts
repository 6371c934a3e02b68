/**
 * The docs are split over README.md and docs/; a section moved or renamed silently breaks the links
 * into it. Every relative link in README.md, docs/**\/*.md and the chart's README must name an
 * existing file and, when it has a #fragment into a Markdown file, an existing heading there
 * (anchors made as GitHub makes them).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

const ROOT = join(__dirname, '..');

function markdownUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return markdownUnder(p);
    return name.endsWith('.md') ? [p] : [];
  });
}

/** Text outside fenced code blocks and inline code spans, where `](…)` is not a link. */
function prose(text: string): string {
  return text.replace(/^```[\s\S]*?^```/gm, '').replace(/`[^`\n]*`/g, '');
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
function anchors(text: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const m of text.replace(/^```[\s\S]*?^```/gm, '').matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const base = m[1]
      .replace(/`/g, '')
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

interface Link {
  from: string;
  target: string;
}

function relativeLinks(file: string): Link[] {
  const links: Link[] = [];
  for (const m of prose(readFileSync(file, 'utf8')).matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
    const target = m[1];
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // http:, https:, mailto:
    links.push({ from: relative(ROOT, file), target });
  }
  return links;
}

/** What is wrong with one link, or null. */
function broken({ from, target }: Link): string | null {
  const [path, fragment] = target.split('#', 2);
  const file = path === '' ? join(ROOT, from) : join(ROOT, dirname(from), decodeURIComponent(path));
  if (!existsSync(file)) return `${from}: ${target}: no such file`;
  if (fragment === undefined || !file.endsWith('.md')) return null;
  if (!anchors(readFileSync(file, 'utf8')).has(fragment)) return `${from}: ${target}: no heading with that anchor`;
  return null;
}

const files = [join(ROOT, 'README.md'), ...markdownUnder(join(ROOT, 'docs')), join(ROOT, 'charts/switchyard/README.md')];

describe('documentation links', () => {
  test('README links to every document under docs/', () => {
    const linked = new Set(relativeLinks(join(ROOT, 'README.md')).map((l) => l.target.split('#')[0]));
    const docs = markdownUnder(join(ROOT, 'docs')).map((f) => relative(ROOT, f));
    expect(docs.filter((d) => !linked.has(d))).toEqual([]);
  });

  test('every relative link resolves to a file and, with a fragment, to a heading in it', () => {
    const links = files.flatMap(relativeLinks);
    expect(links.length).toBeGreaterThan(20); // the scan really reads the links
    expect(links.map(broken).filter((e) => e !== null)).toEqual([]);
  });

  test('the anchor rule matches GitHub on the headings the docs use', () => {
    // A check that accepts any fragment would pass on every broken link; these pin the rule.
    const text = '# Rate limits\n## ServiceAccount tokens (in-cluster clients without API keys)\n## `ModelRoute` (`switchyard.dev/v1alpha1`)\n# Rate limits\n';
    expect([...anchors(text)]).toEqual([
      'rate-limits',
      'serviceaccount-tokens-in-cluster-clients-without-api-keys',
      'modelroute-switchyarddevv1alpha1',
      'rate-limits-1',
    ]);
    expect(broken({ from: 'README.md', target: 'docs/limits-and-budgets.md#no-such-section' })).toMatch(/no heading/);
    expect(broken({ from: 'README.md', target: 'docs/no-such-file.md' })).toMatch(/no such file/);
  });
});

/**
 * Reads the `# -- description` comments of charts/switchyard/values.yaml (helm-docs style) and
 * makes the values table of the chart's README.md. The chart test checks README.md against it;
 * after changing values.yaml, print a fresh table with
 *
 *   node -r ./test/helm/ts-register.js test/helm/values-doc.ts
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import yaml from 'js-yaml';

export interface ValueDoc {
  path: string;
  description: string | undefined;
  /** True for a key that only groups documented keys below it. */
  group: boolean;
}

/** Every key of values.yaml down to the documented ones (nothing inside a documented value). */
export function valueDocs(text: string): ValueDoc[] {
  const entries: Array<ValueDoc & { indent: number }> = [];
  const stack: typeof entries = [];
  let pending: string | undefined;
  for (const line of text.split('\n')) {
    const doc = /^\s*# -- (.*)$/.exec(line);
    if (doc) {
      pending = doc[1];
      continue;
    }
    const m = /^(\s*)(- )?([\w./-]+):/.exec(line);
    if (!m || /^\s*#/.test(line)) continue;
    const indent = m[1].length;
    while (stack.length && stack[stack.length - 1].indent >= indent) stack.pop();
    const parent = stack[stack.length - 1];
    if (m[2] || (parent && parent.description !== undefined)) {
      pending = undefined;
      continue; // list items and nested defaults of a documented value
    }
    const entry = { indent, path: parent ? `${parent.path}.${m[3]}` : m[3], description: pending, group: false };
    pending = undefined;
    if (parent) parent.group = true;
    stack.push(entry);
    entries.push(entry);
  }
  return entries.map(({ path, description, group }) => ({ path, description, group }));
}

const get = (obj: any, path: string) => path.split('.').reduce((o, k) => (o == null ? undefined : o[k]), obj);

/** The README table: key, default, description. */
export function valuesTable(text: string): string {
  const values = yaml.load(text);
  const rows = valueDocs(text)
    .filter((d) => d.description !== undefined)
    .map((d) => `| \`${d.path}\` | \`${JSON.stringify(get(values, d.path)).replace(/\|/g, '\\|')}\` | ${d.description!.replace(/\|/g, '\\|')} |`);
  return ['| Key | Default | Description |', '| --- | --- | --- |', ...rows].join('\n');
}

if (require.main === module) {
  process.stdout.write(valuesTable(readFileSync(join(__dirname, '..', '..', 'charts', 'switchyard', 'values.yaml'), 'utf8')) + '\n');
}

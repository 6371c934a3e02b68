/**
 * A small parser for the Prometheus text format, enough to compare scrapes: sample values by
 * series (`name{label="v",…}` with labels sorted) and the metric families with their types.
 */
export interface Scrape {
  text: string;
  samples: Map<string, number>;
  types: Map<string, string>;
  /** Sum of every sample of `name` whose labels include `match`. */
  sum(name: string, match?: Record<string, string>): number;
  /** Sample names a PromQL expression may use: families plus _bucket/_sum/_count of histograms and summaries. */
  exportedNames(): Set<string>;
}

function parseLabels(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s))) out[m[1]] = m[2].replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
  return out;
}

export function seriesKey(name: string, labels: Record<string, string>): string {
  const parts = Object.keys(labels)
    .sort()
    .map((k) => `${k}="${labels[k]}"`);
  return `${name}{${parts.join(',')}}`;
}

export function parseProm(text: string): Scrape {
  const samples = new Map<string, number>();
  const types = new Map<string, string>();
  const parsed: Array<{ name: string; labels: Record<string, string>; value: number }> = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('# TYPE ')) {
      const [, , name, type] = line.split(' ');
      types.set(name, type);
      continue;
    }
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = m[2] ? parseLabels(m[2]) : {};
    const value = Number(m[3]);
    samples.set(seriesKey(m[1], labels), value);
    parsed.push({ name: m[1], labels, value });
  }
  return {
    text,
    samples,
    types,
    sum(name, match = {}) {
      let total = 0;
      for (const p of parsed) {
        if (p.name !== name) continue;
        if (Object.entries(match).every(([k, v]) => p.labels[k] === v)) total += p.value;
      }
      return total;
    },
    exportedNames() {
      const names = new Set<string>();
      for (const [name, type] of types) {
        names.add(name);
        if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(name + s);
        if (type === 'summary') for (const s of ['_sum', '_count']) names.add(name + s);
      }
      return names;
    },
  };
}

export async function scrape(adminUrl: string): Promise<Scrape> {
  const res = await fetch(`${adminUrl}/metrics`);
  if (!res.ok) throw new Error(`/metrics answered ${res.status}`);
  return parseProm(await res.text());
}

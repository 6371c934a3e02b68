import type { ModelStats } from './stats';

const ms = (v: number | null) => (v === null ? 'n/a' : `${Math.round(v)} ms`);
const counts = (m: Record<string, number>) =>
  Object.entries(m)
    .map(([k, n]) => `${k}×${n}`)
    .join(', ') || '-';

/** The rows of the comparison, shared by the terminal table and the HTML report. */
export function statRows(stats: ModelStats[]): Array<[string, string[]]> {
  return [
    ['success', stats.map((s) => `${s.succeeded}/${s.requests} (${s.requests ? ((100 * s.succeeded) / s.requests).toFixed(1) : '0.0'}%)`)],
    ['latency p50', stats.map((s) => ms(s.latencyP50))],
    ['latency p95', stats.map((s) => ms(s.latencyP95))],
    ['ttft p50', stats.map((s) => ms(s.ttftP50))],
    ['ttft p95', stats.map((s) => ms(s.ttftP95))],
    ['output tok/s', stats.map((s) => (s.outputTokensPerSecond === null ? 'n/a' : s.outputTokensPerSecond.toFixed(1)))],
    ['input tokens', stats.map((s) => String(s.inputTokens))],
    ['output tokens', stats.map((s) => String(s.outputTokens))],
    ['cost', stats.map((s) => (s.costUsd === null ? 'n/a' : `$${s.costUsd.toFixed(6)}`))],
    ['stop reasons', stats.map((s) => counts(s.stopReasons))],
    ['errors', stats.map((s) => counts(s.errors))],
  ];
}

/** A plain-text table, one column per model, so models read side by side. */
export function renderTable(stats: ModelStats[]): string {
  const rows: string[][] = [['', ...stats.map((s) => s.model)], ...statRows(stats).map(([k, v]) => [k, ...v])];
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  const line = (r: string[]) =>
    r
      .map((cell, c) => cell.padEnd(widths[c]))
      .join('  ')
      .trimEnd();
  return [line(rows[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n') + '\n';
}

import type { Result } from './runner';

export interface ModelStats {
  model: string;
  requests: number;
  succeeded: number;
  latencyP50: number | null;
  latencyP95: number | null;
  ttftP50: number | null;
  ttftP95: number | null;
  /** Output tokens of successful answers over their summed latency. */
  outputTokensPerSecond: number | null;
  inputTokens: number;
  outputTokens: number;
  /** null when any successful answer's model has no price. */
  costUsd: number | null;
  stopReasons: Record<string, number>;
  errors: Record<string, number>;
}

/** Nearest-rank percentile: always a value that was observed, so it can be checked against the JSONL. */
export function percentile(values: number[], p: number): number | null {
  if (!values.length) return null;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil((p / 100) * s.length) - 1)];
}

/** Stats per model over finished requests; latency, tokens and cost count successful answers only. */
export function summarize(models: string[], results: Result[]): ModelStats[] {
  return models.map((model) => {
    const mine = results.filter((r) => r.model === model);
    const ok = mine.filter((r) => r.ok);
    const lat = ok.map((r) => r.latencyMs);
    const ttft = ok.map((r) => r.ttftMs).filter((t): t is number => t !== null);
    const outTok = ok.reduce((s, r) => s + r.usage.output_tokens, 0);
    const secs = lat.reduce((s, v) => s + v, 0) / 1000;
    const count = (xs: string[]) => xs.reduce<Record<string, number>>((m, x) => ((m[x] = (m[x] ?? 0) + 1), m), {});
    return {
      model,
      requests: mine.length,
      succeeded: ok.length,
      latencyP50: percentile(lat, 50),
      latencyP95: percentile(lat, 95),
      ttftP50: percentile(ttft, 50),
      ttftP95: percentile(ttft, 95),
      outputTokensPerSecond: ok.length && secs > 0 ? outTok / secs : null,
      inputTokens: ok.reduce((s, r) => s + r.usage.input_tokens, 0),
      outputTokens: outTok,
      costUsd: ok.length && ok.every((r) => r.costUsd !== null) ? ok.reduce((s, r) => s + r.costUsd!, 0) : null,
      stopReasons: count(ok.map((r) => r.stopReason ?? 'null')),
      errors: count(mine.filter((r) => !r.ok).map((r) => r.error!.type)),
    };
  });
}

import { writeFileSync } from 'node:fs';
import type { Result } from './runner';

/** One line per answer, in prompt order, with the fields a reader needs to recompute the table. */
export function writeJsonl(file: string, results: Result[]): void {
  const lines = results.map((r) =>
    JSON.stringify({
      prompt: r.prompt,
      repeat: r.repeat,
      model: r.model,
      ok: r.ok,
      status: r.status,
      answer: r.text,
      usage: r.usage,
      stop_reason: r.stopReason,
      latency_ms: r.latencyMs,
      ttft_ms: r.ttftMs,
      cost_usd: r.costUsd,
      request_id: r.requestId,
      error: r.error,
    }),
  );
  writeFileSync(file, lines.length ? lines.join('\n') + '\n' : '');
}

import { Interrupted, streamMessage, type Answer } from './stream-client';
import { costOf, type Pricing } from './pricing';
import type { PromptBody } from './prompts';

/** One answer as the stream client read it, with where it belongs and what it cost. */
export interface Result extends Answer {
  prompt: number;
  repeat: number;
  model: string;
  costUsd: number | null;
}

export interface RunOptions {
  url: string;
  key: string;
  models: string[];
  prompts: PromptBody[];
  concurrency: number;
  repeat: number;
  timeoutMs: number;
  pricing?: Pricing;
  interrupt: AbortSignal;
  onResult?: (r: Result) => void;
}

/**
 * Runs every (prompt, repeat, model) with a fixed number in flight. Models are interleaved per
 * prompt so an interrupted run still compares the models on the same prompts. After an
 * interrupt no new request starts and the aborted ones are left out: they did not finish.
 */
export async function runAll(o: RunOptions): Promise<Result[]> {
  const jobs: Array<{ prompt: number; repeat: number; model: string }> = [];
  o.prompts.forEach((_, prompt) => {
    for (let repeat = 0; repeat < o.repeat; repeat++) for (const model of o.models) jobs.push({ prompt, repeat, model });
  });
  const results: Result[] = [];
  let next = 0;
  const worker = async () => {
    while (next < jobs.length && !o.interrupt.aborted) {
      const job = jobs[next++];
      try {
        const a = await streamMessage(o.url, o.key, { ...o.prompts[job.prompt], model: job.model }, { timeoutMs: o.timeoutMs, interrupt: o.interrupt });
        const r: Result = { ...job, ...a, costUsd: a.ok ? costOf(o.pricing, job.model, a.usage) : null };
        results.push(r);
        o.onResult?.(r);
      } catch (err) {
        if (err instanceof Interrupted) return;
        throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(o.concurrency, jobs.length) }, worker));
  return results.sort((a, b) => a.prompt - b.prompt || a.repeat - b.repeat || o.models.indexOf(a.model) - o.models.indexOf(b.model));
}

export const totalJobs = (o: Pick<RunOptions, 'models' | 'prompts' | 'repeat'>) => o.models.length * o.prompts.length * o.repeat;

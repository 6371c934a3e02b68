import { COMPARE_HELP, parseCompareArgs, UsageError } from './args';
import { loadPrompts } from './prompts';
import { loadPricing } from './pricing';
import { runAll, totalJobs } from './runner';
import { summarize } from './stats';
import { renderTable } from './format';
import { writeJsonl } from './jsonl';
import { renderReport, writeReport } from './html-report';
import { Progress } from './progress';

/**
 * `switchyard compare`. Exit codes: 0 when the run finished, 1 when every request failed (a wrong
 * key or URL should fail a script), 2 for bad flags or input, 130 after Ctrl-C — what finished
 * is still printed and written.
 */
export async function runCompare(argv: string[]): Promise<number> {
  let setup;
  try {
    const opts = parseCompareArgs(argv, process.env);
    if (opts === 'help') {
      process.stdout.write(COMPARE_HELP + '\n');
      return 0;
    }
    setup = { opts, prompts: loadPrompts(opts.prompts, opts.maxTokens), pricing: opts.pricing ? loadPricing(opts.pricing) : undefined };
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`switchyard compare: ${err.message}\n\n${COMPARE_HELP}\n`);
    return 2;
  }
  const { opts, prompts, pricing } = setup;
  const interrupt = new AbortController();
  const onSigint = () => {
    // A second Ctrl-C means "now": skip writing the results.
    if (interrupt.signal.aborted) process.exit(130);
    interrupt.abort();
  };
  process.on('SIGINT', onSigint);
  const progress = new Progress(totalJobs({ models: opts.models, prompts, repeat: opts.repeat }));
  let results;
  try {
    results = await runAll({ ...opts, prompts, pricing, interrupt: interrupt.signal, onResult: (r) => progress.tick(r.ok) });
  } finally {
    process.off('SIGINT', onSigint);
  }
  const interrupted = interrupt.signal.aborted;
  progress.end(interrupted ? `interrupted: showing the ${results.length} request(s) that finished` : undefined);
  const stats = summarize(opts.models, results);
  process.stdout.write(renderTable(stats));
  for (const r of results.filter((x) => !x.ok)) {
    process.stderr.write(
      `compare: prompt ${r.prompt + 1} #${r.repeat + 1} ${r.model}: ${r.error!.type}${r.status ? ` (HTTP ${r.status})` : ''}: ${r.error!.message.slice(0, 200)}\n`,
    );
  }
  if (opts.out) writeJsonl(opts.out, results);
  if (opts.report) writeReport(opts.report, renderReport({ models: opts.models, prompts, results, stats, interrupted, generatedAt: new Date() }));
  if (interrupted) return 130;
  return results.length && results.every((r) => !r.ok) ? 1 : 0;
}

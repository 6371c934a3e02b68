import { parseArgs } from 'node:util';

export const COMPARE_HELP = `Usage: switchyard compare --url URL --key KEY --models A,B,... --prompts FILE [options]

Sends every prompt to every model through a Switchyard gateway (streaming) and prints a
side-by-side table per model.

  --url URL            gateway base URL (e.g. http://gateway:8080)
  --key KEY            client key, sent as x-api-key (default: $SWITCHYARD_KEY)
  --models LIST        comma-separated model names as the gateway routes them
  --prompts FILE       JSONL: one Messages body per line (no "model"), or {"prompt": "..."}
  --concurrency N      requests in flight at once (default 4)
  --repeat N           send each prompt to each model N times (default 1)
  --max-tokens N       max_tokens for {"prompt"} lines and bodies without one (default 1024)
  --timeout-seconds N  per-request timeout (default 300)
  --pricing FILE       YAML/JSON: model -> {inputPerMTok, outputPerMTok, cacheRead, cacheWrite}
                       (USD per million tokens); without it cost is reported as n/a
  --out FILE           write every answer as JSONL
  --report FILE        write a self-contained HTML report
  -h, --help           this text

Environment:
  SWITCHYARD_KEY       the client key when --key is not given

Exit codes: 0 done, 1 every request failed, 2 bad flags or input, 130 interrupted (Ctrl-C).`;

export interface CompareOptions {
  url: string;
  key: string;
  models: string[];
  prompts: string;
  concurrency: number;
  repeat: number;
  maxTokens: number;
  timeoutMs: number;
  pricing?: string;
  out?: string;
  report?: string;
}

export class UsageError extends Error {}

/** Parses compare's flags; throws UsageError (exit 2) for anything unusable. */
export function parseCompareArgs(argv: string[], env: NodeJS.ProcessEnv): CompareOptions | 'help' {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      allowPositionals: false,
      options: {
        url: { type: 'string' },
        key: { type: 'string' },
        models: { type: 'string' },
        prompts: { type: 'string' },
        concurrency: { type: 'string', default: '4' },
        repeat: { type: 'string', default: '1' },
        'max-tokens': { type: 'string', default: '1024' },
        'timeout-seconds': { type: 'string', default: '300' },
        pricing: { type: 'string' },
        out: { type: 'string' },
        report: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) return 'help';
  const str = (name: string) => values[name] as string | undefined;
  const int = (name: string, min: number) => {
    const v = str(name);
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name}: '${v}' must be an integer >= ${min}`);
    return n;
  };
  const url = str('url');
  const key = str('key') ?? env.SWITCHYARD_KEY;
  const models = (str('models') ?? '')
    .split(',')
    .map((m) => m.trim())
    .filter(Boolean);
  const prompts = str('prompts');
  if (!url) throw new UsageError('--url is required');
  try {
    new URL(url);
  } catch {
    throw new UsageError(`--url: '${url}' is not a URL`);
  }
  if (!key) throw new UsageError('--key (or SWITCHYARD_KEY) is required');
  if (!models.length) throw new UsageError('--models needs at least one model');
  if (!prompts) throw new UsageError('--prompts is required');
  return {
    url: url.replace(/\/+$/, ''),
    key,
    models,
    prompts,
    concurrency: int('concurrency', 1),
    repeat: int('repeat', 1),
    maxTokens: int('max-tokens', 1),
    timeoutMs: int('timeout-seconds', 1) * 1000,
    pricing: str('pricing'),
    out: str('out'),
    report: str('report'),
  };
}

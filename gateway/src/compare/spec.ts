import type { CommandSpec } from '../cli-spec';

/**
 * compare's entry in the top-level usage and the SWITCHYARD_* listing. Its flags are parsed by
 * args.ts (COMPARE_HELP is its --help); this table only names them, so this file stays free of the
 * runner's imports.
 */
export const COMPARE_COMMAND: CommandSpec = {
  name: 'compare',
  summary:
    'Sends the same prompts through several models of a gateway, streaming, and prints a side-by-side table. Writes JSONL and an HTML report on request.',
  flags: [
    { name: 'url', arg: 'URL', help: 'Gateway base URL' },
    { name: 'key', arg: 'KEY', env: 'SWITCHYARD_KEY', help: 'Client key, sent as x-api-key' },
    { name: 'models', arg: 'LIST', help: 'Comma-separated model names as the gateway routes them' },
    { name: 'prompts', arg: 'FILE', help: 'JSONL: one Messages body per line, or {"prompt": "..."}' },
  ],
  env: [],
};

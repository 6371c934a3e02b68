import type { CommandSpec } from './cli-spec';
import { OPERATOR_COMMAND } from '../../operator/src/options';
import { COMPARE_COMMAND } from './compare/spec';

/**
 * Subcommands beyond gateway/validate live with their feature; registering them here keeps
 * cli.ts free of imports it only needs for one command (the operator pulls in client-node).
 * Their flag tables, for `switchyard --help` (options.ts loads no client-node). */
export const OPTIONAL_COMMANDS: CommandSpec[] = [OPERATOR_COMMAND, COMPARE_COMMAND];

export function registerOptionalCommands(register: (name: string, spec: CommandSpec, run: (argv: string[]) => Promise<number | void>) => void): void {
  // Required lazily: client-node is ESM loaded through require(esm), and only the operator needs it.
  register('operator', OPERATOR_COMMAND, (argv) => (require('../../operator/src/main') as typeof import('../../operator/src/main')).runOperator(argv));
  register('compare', COMPARE_COMMAND, (argv) => (require('./compare/main') as typeof import('./compare/main')).runCompare(argv));
}

/**
 * Subcommands beyond gateway/validate live with their feature; registering them here keeps
 * cli.ts free of imports it only needs for one command (the operator pulls in client-node).
 */
export function registerOptionalCommands(_register: (name: string, cmd: (argv: string[]) => Promise<number | void>) => void): void {}

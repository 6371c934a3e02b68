import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { packageRoot } from './config/package-root';

/**
 * Each command declares its flags and environment variables once, in a table; the parser and
 * `--help` both read it, so a new flag or variable is one line and cannot be left out of the help.
 */
export interface Flag {
  name: string;
  /** Placeholder for the value in the help (`FILE`, `N`); a flag without one takes no value. */
  arg?: string;
  default?: string;
  /** Variable that supplies the value when the flag is absent (it wins over `default`). */
  env?: string;
  help: string;
  number?: { min: number; max?: number; integer?: boolean };
  /** May be given more than once; comma-separated values are split too. */
  multiple?: boolean;
}

export interface EnvVar {
  name: string;
  help: string;
}

export interface CommandSpec {
  name: string;
  summary: string;
  /** Positional arguments for the synopsis, e.g. `FILE|DIR...`. */
  args?: string;
  flags: Flag[];
  /** Variables the command reads besides those behind a flag. */
  env: EnvVar[];
}

/** A bad command line: the CLI prints the message and the command's help, and exits 2. */
export class UsageError extends Error {}

export interface Parsed {
  help: boolean;
  positionals: string[];
  string(name: string): string | undefined;
  number(name: string): number;
  list(name: string): string[];
}

export function parseCommand(spec: CommandSpec, argv: string[], env: NodeJS.ProcessEnv): Parsed {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }> = { help: { type: 'boolean', short: 'h' } };
  for (const f of spec.flags) options[f.name] = { type: f.arg ? 'string' : 'boolean', ...(f.multiple ? { multiple: true } : {}) };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: spec.args !== undefined, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const values = parsed.values as Record<string, string | string[] | boolean | undefined>;
  const flag = (name: string) => {
    const f = spec.flags.find((x) => x.name === name);
    if (!f) throw new Error(`switchyard ${spec.name}: no flag --${name} in its table`);
    return f;
  };
  // Where a value came from, so an error names what the user has to change.
  const raw = (f: Flag): { value: string | undefined; source: string } => {
    const v = values[f.name];
    if (typeof v === 'string') return { value: v, source: `--${f.name}` };
    if (f.env && env[f.env] !== undefined && env[f.env] !== '') return { value: env[f.env], source: `${f.env} (environment)` };
    return { value: f.default, source: `--${f.name}` };
  };
  const checked = (f: Flag) => {
    const { value, source } = raw(f);
    if (!f.number || value === undefined) return;
    const n = value.trim() === '' ? NaN : Number(value);
    const { min, max, integer } = f.number;
    const range = `${integer ? 'an integer' : 'a number'} ${max === undefined ? `>= ${min}` : `from ${min} to ${max}`}`;
    if (!Number.isFinite(n) || n < min || (max !== undefined && n > max) || (integer && !Number.isInteger(n)))
      throw new UsageError(`${source}: '${value}' is not ${range}`);
  };
  // Every value is checked before the command does anything, not when it is first used.
  if (!values.help) for (const f of spec.flags) checked(f);
  return {
    help: values.help === true,
    positionals: parsed.positionals,
    string: (name) => {
      const f = flag(name);
      return f.arg ? raw(f).value : values[name] === true ? 'true' : undefined;
    },
    number: (name) => Number(raw(flag(name)).value),
    list: (name) => {
      const f = flag(name);
      const v = values[name];
      const given = Array.isArray(v) ? v : typeof v === 'string' ? [v] : [raw(f).value ?? ''];
      return given
        .flatMap((s) => s.split(','))
        .map((s) => s.trim())
        .filter(Boolean);
    },
  };
}

function table(rows: [string, string][]): string {
  const width = Math.min(34, Math.max(...rows.map(([l]) => l.length)) + 2);
  const pad = `\n  ${' '.repeat(width)}`;
  return rows.map(([l, r]) => `  ${l.padEnd(width)}${l.length >= width ? pad : ''}${r.split('\n').join(pad)}`).join('\n');
}

export function helpText(spec: CommandSpec): string {
  const flags: [string, string][] = spec.flags.map((f) => {
    const extra = [f.default !== undefined ? `default ${f.default || "''"}` : '', f.env ? `env ${f.env}` : '', f.multiple ? 'repeatable' : '']
      .filter(Boolean)
      .join('; ');
    return [`--${f.name}${f.arg ? ` ${f.arg}` : ''}`, `${f.help}${extra ? ` (${extra})` : ''}`];
  });
  flags.push(['-h, --help', 'Print this help and exit']);
  const env: [string, string][] = [
    ...spec.flags.filter((f) => f.env).map((f): [string, string] => [f.env!, `Same as --${f.name}`]),
    ...spec.env.map((e): [string, string] => [e.name, e.help]),
  ];
  return [
    `Usage: switchyard ${spec.name}${spec.flags.length ? ' [flags]' : ''}${spec.args ? ` ${spec.args}` : ''}`,
    '',
    spec.summary,
    '',
    'Flags:',
    table(flags),
    ...(env.length ? ['', 'Environment:', table(env)] : []),
  ].join('\n');
}

export function appVersion(): string {
  return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}

#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { Gateway } from './gateway';
import { createLogger } from './log';
import { installFeatures } from './features';
import { registerOptionalCommands } from './commands';
import { ConfigError, loadConfigFile } from '../../operator/src/yaml-config';

const USAGE = `switchyard — a gateway that speaks the Anthropic Messages API

Usage:
  switchyard gateway [--config FILE] [--port 8080] [--admin-port 9090] [--host 0.0.0.0]
                     [--drain-seconds 30] [--max-body-bytes 33554432]
                     [--max-event-bytes 4194304] [--max-upstream-body-bytes 33554432]
  switchyard validate FILE
  switchyard operator --gateway-service NS/NAME [--namespace NS] [--admin-port-name admin]

Environment: SWITCHYARD_ADMIN_TOKEN (admin API bearer token), SWITCHYARD_REDIS_URL (Redis limit
store), SWITCHYARD_LOG_LEVEL (debug|info|warn|error), OTEL_* (tracing).`;

type Command = (argv: string[]) => Promise<number | void>;
const commands: Record<string, Command> = {
  gateway: runGateway,
  validate: runValidate,
};

/** Adds a subcommand (the operator registers itself this way). */
export function registerCommand(name: string, cmd: Command): void {
  commands[name] = cmd;
}

async function runValidate(argv: string[]): Promise<number> {
  const { positionals } = parseArgs({ args: argv, allowPositionals: true, options: {} });
  if (positionals.length !== 1) return usage('validate needs exactly one FILE');
  try {
    const { snapshot } = loadConfigFile(positionals[0]);
    process.stdout.write(`${positionals[0]}: OK — ${snapshot.routes.length} route(s), ${snapshot.keys.length} key(s), version ${snapshot.version}\n`);
    for (const r of snapshot.routes) {
      process.stdout.write(`  ${r.model}${r.aliases.length ? ` (aliases: ${r.aliases.join(', ')})` : ''} → ${r.targets.map((t) => `${t.provider}:${t.model}`).join(', ')}\n`);
    }
    return 0;
  } catch (err) {
    return configFailure(err);
  }
}

async function runGateway(argv: string[]): Promise<number | void> {
  const env = process.env;
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string' },
      port: { type: 'string', default: env.SWITCHYARD_LISTEN_PORT ?? '8080' },
      'admin-port': { type: 'string', default: env.SWITCHYARD_ADMIN_LISTEN_PORT ?? '9090' },
      host: { type: 'string', default: env.SWITCHYARD_LISTEN_HOST ?? '0.0.0.0' },
      'drain-seconds': { type: 'string', default: env.SWITCHYARD_DRAIN_SECONDS ?? '30' },
      'max-body-bytes': { type: 'string', default: env.SWITCHYARD_MAX_BODY_BYTES ?? String(32 * 1024 * 1024) },
      'max-event-bytes': { type: 'string', default: env.SWITCHYARD_MAX_EVENT_BYTES ?? String(4 * 1024 * 1024) },
      'max-upstream-body-bytes': { type: 'string', default: env.SWITCHYARD_MAX_UPSTREAM_BODY_BYTES ?? String(32 * 1024 * 1024) },
    },
  });
  const num = (name: string, v: string | undefined) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new ConfigError([`--${name}: '${v}' is not a number`]);
    return n;
  };
  const log = createLogger('gateway');
  let gateway: Gateway;
  try {
    const snapshot = values.config ? loadConfigFile(values.config).snapshot : undefined;
    gateway = new Gateway({
      port: num('port', values.port),
      adminPort: num('admin-port', values['admin-port']),
      host: values.host,
      drainSeconds: num('drain-seconds', values['drain-seconds']),
      options: {
        maxBodyBytes: num('max-body-bytes', values['max-body-bytes']),
        maxEventBytes: num('max-event-bytes', values['max-event-bytes']),
        maxUpstreamBodyBytes: num('max-upstream-body-bytes', values['max-upstream-body-bytes']),
      },
      adminToken: env.SWITCHYARD_ADMIN_TOKEN || undefined,
      snapshot,
      log,
    });
  } catch (err) {
    return configFailure(err);
  }
  await installFeatures(gateway, env);
  // Signal handlers go in before the "listening" line, so nobody can signal a gateway that would
  // still die of SIGHUP's default action.
  if (values.config) {
    const file = values.config;
    process.on('SIGHUP', () => {
      try {
        const r = gateway.apply(loadConfigFile(file).snapshot);
        log.info('configuration reloaded', { file, ...r });
      } catch (err) {
        log.error('configuration reload failed; keeping the current one', { file, problems: err instanceof ConfigError ? err.problems : [String(err)] });
      }
    });
  }
  const stopped = new Promise<void>((resolve) => {
    let stopping = false;
    const stop = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info('draining', { signal, inflight: gateway.inflightRequests });
      const { forced } = await gateway.drain();
      log.info('stopped', { forced });
      resolve();
    };
    process.once('SIGTERM', () => void stop('SIGTERM'));
    process.once('SIGINT', () => void stop('SIGINT'));
  });
  try {
    await gateway.start();
  } catch (err) {
    log.error('cannot listen', { err: (err as Error).message });
    return 1;
  }
  log.info('gateway listening', {
    port: gateway.trafficPort,
    adminPort: gateway.adminPort,
    config: values.config ?? '(waiting for operator push)',
    version: gateway.table?.version ?? null,
  });
  if (!env.SWITCHYARD_ADMIN_TOKEN && !values.config) log.warn('SWITCHYARD_ADMIN_TOKEN is unset: the operator cannot push configuration');

  await stopped;
  return 0;
}

function configFailure(err: unknown): number {
  if (err instanceof ConfigError) {
    process.stderr.write(`configuration error:\n${err.problems.map((p) => `  ${p}`).join('\n')}\n`);
    return 2;
  }
  throw err;
}

function usage(msg?: string): number {
  if (msg) process.stderr.write(`${msg}\n\n`);
  process.stderr.write(USAGE + '\n');
  return 2;
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    process.stdout.write(USAGE + '\n');
    return cmd ? 0 : 2;
  }
  registerOptionalCommands(registerCommand);
  const run = commands[cmd];
  if (!run) return usage(`unknown command '${cmd}'`);
  try {
    return (await run(rest)) ?? 0;
  } catch (err) {
    if ((err as NodeJS.ErrnoException)?.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || (err as NodeJS.ErrnoException)?.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      return usage((err as Error).message);
    }
    process.stderr.write(`switchyard: ${(err as Error)?.stack ?? err}\n`);
    return 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
    // Everything has been closed by now. A handle some library left referenced must not keep a
    // drained pod running until its SIGKILL: say so, and exit anyway. (This timer is unref'd, so
    // every resource listed, timers included, is one that kept the process up.)
    setTimeout(() => {
      createLogger('cli').warn('exiting with handles still open', { handles: process.getActiveResourcesInfo() });
      process.exit(code);
    }, 2000).unref();
  });
}

#!/usr/bin/env node
import { Gateway } from './gateway';
import { createLogger } from './log';
import { installFeatures } from './features';
import { OPTIONAL_COMMANDS, registerOptionalCommands } from './commands';
import { ConfigError, loadConfigFiles } from './config/yaml-config';
import { appVersion, helpText, parseCommand, UsageError, type CommandSpec } from './cli-spec';
import { DEFAULT_AUDIENCE, loadJwks, withServiceAccountAuth } from './config/service-account-auth';
import type { ServiceAccountAuth } from './config/snapshot';

const CONFIG_FILES = 'FILE|DIR...';

export const GATEWAY_COMMAND: CommandSpec = {
  name: 'gateway',
  summary:
    'Serves the Anthropic Messages API. With --config it runs standalone on ModelRoute, ApiKey and\nSecret YAML (SIGHUP reloads it); without, it waits for the operator to push its configuration.',
  flags: [
    { name: 'config', arg: CONFIG_FILES, multiple: true, help: 'YAML files or directories (recursed: .yaml, .yml, .json) to serve' },
    // The CLI binds every interface, as a container must; `npm start` passes 127.0.0.1 because the demo key is public.
    { name: 'host', arg: 'ADDR', default: '0.0.0.0', env: 'SWITCHYARD_LISTEN_HOST', help: 'Address both ports bind' },
    {
      name: 'port',
      arg: 'N',
      default: '8080',
      env: 'SWITCHYARD_LISTEN_PORT',
      number: { min: 0, max: 65535, integer: true },
      help: 'Traffic port (/v1/messages); 0 picks a free one',
    },
    {
      name: 'admin-port',
      arg: 'N',
      default: '9090',
      env: 'SWITCHYARD_ADMIN_LISTEN_PORT',
      number: { min: 0, max: 65535, integer: true },
      help: 'Admin port (/healthz, /readyz, /metrics, /admin)',
    },
    {
      name: 'drain-seconds',
      arg: 'S',
      default: '30',
      env: 'SWITCHYARD_DRAIN_SECONDS',
      number: { min: 0 },
      help: 'On SIGTERM, how long in-flight requests may finish',
    },
    {
      name: 'max-body-bytes',
      arg: 'N',
      default: String(32 * 1024 * 1024),
      env: 'SWITCHYARD_MAX_BODY_BYTES',
      number: { min: 1, integer: true },
      help: 'Largest request body accepted (413 above)',
    },
    {
      name: 'body-timeout-seconds',
      arg: 'S',
      default: '60',
      env: 'SWITCHYARD_BODY_TIMEOUT_SECONDS',
      number: { min: 0 },
      help: 'Longest time a client may take to send its whole body (408 past it); 0: no limit',
    },
    {
      name: 'max-connections',
      arg: 'N',
      env: 'SWITCHYARD_MAX_CONNECTIONS',
      number: { min: 0, integer: true },
      help: 'Open client connections accepted before new ones get 503 (default: from the\nfile-descriptor limit; 0: no cap)',
    },
    {
      name: 'max-event-bytes',
      arg: 'N',
      default: String(4 * 1024 * 1024),
      env: 'SWITCHYARD_MAX_EVENT_BYTES',
      number: { min: 1, integer: true },
      help: 'Largest upstream SSE event buffered; a larger one ends the stream with an error event',
    },
    {
      name: 'max-upstream-body-bytes',
      arg: 'N',
      default: String(32 * 1024 * 1024),
      env: 'SWITCHYARD_MAX_UPSTREAM_BODY_BYTES',
      number: { min: 1, integer: true },
      help: 'Largest non-streamed upstream reply buffered (502 above)',
    },
    {
      name: 'stream-stall-seconds',
      arg: 'S',
      default: '120',
      env: 'SWITCHYARD_STREAM_STALL_SECONDS',
      number: { min: 0 },
      help: 'Longest a response waits for a client that stopped reading before cutting it off; 0: no limit',
    },
    {
      name: 'sa-issuer',
      arg: 'URL',
      env: 'SWITCHYARD_SA_ISSUER',
      help: 'ServiceAccount tokens: the cluster issuer (`iss`) to admit (needs --config and --sa-jwks)',
    },
    {
      name: 'sa-jwks',
      arg: 'FILE|URL',
      env: 'SWITCHYARD_SA_JWKS',
      help: "ServiceAccount tokens: the issuer's JWK set (a URL is re-read periodically, a file on SIGHUP)",
    },
    {
      name: 'sa-audience',
      arg: 'AUD',
      default: DEFAULT_AUDIENCE,
      env: 'SWITCHYARD_SA_AUDIENCE',
      help: 'ServiceAccount tokens: the audience a token must carry',
    },
    { name: 'sa-jwks-refresh-seconds', arg: 'S', default: '300', number: { min: 1 }, help: 'How often a JWK set URL is re-read' },
  ],
  env: [
    { name: 'SWITCHYARD_ADMIN_TOKEN', help: 'Bearer token of the admin API (operator pushes, /admin/usage); unset disables it' },
    { name: 'SWITCHYARD_LOG_LEVEL', help: 'debug | info (default) | warn | error' },
    { name: 'SWITCHYARD_ACCESS_LOG', help: 'stdout (default) | stderr | off: one JSON line per request' },
    { name: 'SWITCHYARD_METRICS', help: 'on (default) | off: request metrics on /metrics' },
    { name: 'SWITCHYARD_REDIS_URL', help: 'redis[s]://[:password@]host:port[/db]: global limits and budgets in Redis (else per pod)' },
    { name: 'SWITCHYARD_REDIS_FAILURE_POLICY', help: 'open (default: fall back to per-pod limits) | closed (503) while Redis is down' },
    { name: 'SWITCHYARD_REDIS_PREFIX', help: 'Redis key prefix (default switchyard:), to share one Redis' },
    { name: 'SWITCHYARD_REDIS_TIMEOUT_MS', help: 'Longest wait for one Redis command (default 500)' },
    {
      name: 'OTEL_*',
      help: 'Tracing: OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT, _PROTOCOL, _HEADERS, OTEL_TRACES_EXPORTER,\nOTEL_TRACES_SAMPLER[_ARG], OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_SDK_DISABLED, ...',
    },
    { name: '${VAR}', help: 'Any variable a --config file names as ${VAR} or ${VAR:-default}' },
  ],
};

export const VALIDATE_COMMAND: CommandSpec = {
  name: 'validate',
  args: CONFIG_FILES,
  summary:
    'Checks configuration files without serving them. ModelRoute, ApiKey and Secret YAML is checked as\nstrictly as `kubectl apply` with server-side field validation does (unknown fields, apiVersion, the\nCRD schemas) plus the references between objects, all files together as one configuration.\nExits 0 when valid, 2 otherwise.',
  flags: [],
  env: [{ name: '${VAR}', help: 'Any variable the files name as ${VAR} or ${VAR:-default}' }],
};

type Command = { spec: CommandSpec; run: (argv: string[]) => Promise<number | void> };
const commands: Record<string, Command> = {
  gateway: { spec: GATEWAY_COMMAND, run: runGateway },
  validate: { spec: VALIDATE_COMMAND, run: runValidate },
};

/** Adds a subcommand (the operator registers itself this way). */
export function registerCommand(name: string, spec: CommandSpec, run: Command['run']): void {
  commands[name] = { spec, run };
}

function usageText(): string {
  const specs = [GATEWAY_COMMAND, VALIDATE_COMMAND, ...OPTIONAL_COMMANDS];
  const envs = [...new Set(specs.flatMap((s) => [...s.flags.flatMap((f) => (f.env ? [f.env] : [])), ...s.env.map((e) => e.name)]))].filter(
    (n) => !n.startsWith('$'),
  );
  return [
    'switchyard — a gateway that speaks the Anthropic Messages API',
    '',
    'Usage:',
    ...specs.map((s) => `  switchyard ${s.name}${s.args ? ` ${s.args}` : ''}${s.flags.length ? ' [flags]' : ''}`.padEnd(44) + s.summary.split('. ')[0]),
    '  switchyard --version',
    '',
    "Run 'switchyard COMMAND --help' for a command's flags (with their defaults) and environment.",
    '',
    'Environment variables read (see each command for what they do):',
    ...wrap(envs.join(', ') + '.', 96).map((l) => `  ${l}`),
  ].join('\n');
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  for (const word of text.split(' ')) {
    if (lines.length && lines[lines.length - 1].length + word.length < width) lines[lines.length - 1] += ` ${word}`;
    else lines.push(word);
  }
  return lines;
}

async function runValidate(argv: string[]): Promise<number> {
  const args = parseCommand(VALIDATE_COMMAND, argv, process.env);
  if (args.help) return help(VALIDATE_COMMAND);
  if (args.positionals.length === 0) throw new UsageError('validate needs at least one FILE or DIR');
  try {
    const { snapshot } = loadConfigFiles(args.positionals);
    process.stdout.write(
      `${args.positionals.join(', ')}: OK — ${snapshot.routes.length} route(s), ${snapshot.keys.length} key(s), version ${snapshot.version}\n`,
    );
    for (const r of snapshot.routes) {
      process.stdout.write(
        `  ${r.model}${r.aliases.length ? ` (aliases: ${r.aliases.join(', ')})` : ''} → ${r.targets.map((t) => `${t.provider}:${t.model}`).join(', ')}${
          r.shadows ? `; shadows: ${r.shadows.map((s) => `${s.name} ${s.percent}% by ${s.sampleBy} → ${s.target.provider}:${s.target.model}`).join(', ')}` : ''
        }\n`,
      );
    }
    return 0;
  } catch (err) {
    return configFailure(err);
  }
}

async function runGateway(argv: string[]): Promise<number | void> {
  const env = process.env;
  const args = parseCommand(GATEWAY_COMMAND, argv, env);
  if (args.help) return help(GATEWAY_COMMAND);
  const files = args.list('config');
  const log = createLogger('gateway');
  let gateway: Gateway;
  let saAuth: ServiceAccountAuth | undefined;
  const issuer = args.string('sa-issuer');
  const jwksSource = args.string('sa-jwks');
  try {
    if (!!issuer !== !!jwksSource) throw new ConfigError(['--sa-issuer and --sa-jwks go together (ServiceAccount tokens need both the issuer and its keys)']);
    if (issuer && !files.length) throw new ConfigError(['--sa-issuer needs --config (in a cluster the operator pushes the issuer and its keys)']);
    if (issuer && jwksSource) {
      try {
        saAuth = { issuer, audience: args.string('sa-audience')!, jwks: await loadJwks(jwksSource) };
      } catch (err) {
        throw new ConfigError([`--sa-jwks: ${(err as Error).message}`]);
      }
    }
    const snapshot = files.length ? withServiceAccountAuth(loadConfigFiles(files).snapshot, saAuth) : undefined;
    gateway = new Gateway({
      port: args.number('port'),
      adminPort: args.number('admin-port'),
      host: args.string('host'),
      drainSeconds: args.number('drain-seconds'),
      options: {
        maxBodyBytes: args.number('max-body-bytes'),
        bodyTimeoutMs: args.number('body-timeout-seconds') * 1000,
        maxConnections: args.string('max-connections') === undefined ? undefined : args.number('max-connections'),
        maxEventBytes: args.number('max-event-bytes'),
        maxUpstreamBodyBytes: args.number('max-upstream-body-bytes'),
        streamStallMs: args.number('stream-stall-seconds') * 1000,
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
  if (files.length) {
    const file = files.join(', ');
    process.on('SIGHUP', async () => {
      try {
        // A JWK set file is re-read with the configuration (a URL has its own timer).
        const auth = saAuth && !/^https?:\/\//i.test(jwksSource!) ? { ...saAuth, jwks: await loadJwks(jwksSource!) } : saAuth;
        const r = gateway.apply(withServiceAccountAuth(loadConfigFiles(files).snapshot, auth));
        saAuth = auth;
        log.info('configuration reloaded', { file, ...r });
      } catch (err) {
        log.error('configuration reload failed; keeping the current one', { file, problems: err instanceof ConfigError ? err.problems : [String(err)] });
      }
    });
  }
  let jwksTimer: NodeJS.Timeout | undefined;
  if (saAuth && files.length && /^https?:\/\//i.test(jwksSource!)) {
    // The issuer publishes a new key before signing with it; re-reading picks it up. A failed
    // read keeps the keys we have.
    const every = args.number('sa-jwks-refresh-seconds') * 1000;
    jwksTimer = setInterval(
      async () => {
        try {
          const jwks = await loadJwks(jwksSource!);
          if (JSON.stringify(jwks) === JSON.stringify(saAuth!.jwks)) return;
          saAuth = { ...saAuth!, jwks };
          const r = gateway.apply(withServiceAccountAuth(loadConfigFiles(files).snapshot, saAuth));
          log.info('ServiceAccount issuer keys refreshed', { keys: jwks.keys.length, ...r });
        } catch (err) {
          log.warn('ServiceAccount issuer keys refresh failed; keeping the current keys', {
            err: err instanceof ConfigError ? err.problems : String((err as Error).message),
          });
        }
      },
      Math.max(1000, every),
    );
  }
  const stopped = new Promise<void>((resolve) => {
    let stopping = false;
    const stop = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info('draining', { signal, inflight: gateway.inflightRequests, shadows: gateway.shadows.inflight });
      clearInterval(jwksTimer);
      const { forced, shadowsAborted } = await gateway.drain();
      log.info('stopped', { forced, shadows_aborted: shadowsAborted });
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
    host: args.string('host'),
    config: files.length ? files.join(', ') : '(waiting for operator push)',
    appVersion: appVersion(),
    // The configuration's content hash, as /admin/config and switchyard_config_info show it.
    version: gateway.table?.version ?? null,
  });
  if (!env.SWITCHYARD_ADMIN_TOKEN && !files.length) log.warn('SWITCHYARD_ADMIN_TOKEN is unset: the operator cannot push configuration');

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
  process.stderr.write(usageText() + '\n');
  return 2;
}

function help(spec: CommandSpec): number {
  process.stdout.write(helpText(spec) + '\n');
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === '--version' || cmd === '-V' || cmd === 'version') {
    process.stdout.write(`switchyard ${appVersion()}\n`);
    return 0;
  }
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    // Bare `switchyard` is a mistake (exit 2, usage on stderr); asking for help is not.
    if (!cmd) return usage();
    process.stdout.write(usageText() + '\n');
    return 0;
  }
  registerOptionalCommands(registerCommand);
  const command = commands[cmd];
  if (!command) return usage(`unknown command '${cmd}'`);
  try {
    return (await command.run(rest)) ?? 0;
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`switchyard ${cmd}: ${err.message}\n\n${helpText(command.spec)}\n`);
      return 2;
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

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { FakeKube } from './fake-kube';
import { GATEWAY_NS, GATEWAY_SERVICE } from './cluster-fixtures';
import { waitFor } from './http-server';

export const ADMIN_TOKEN = 'admin-token';
const CLI = join(__dirname, '..', '..', 'dist', 'gateway', 'src', 'cli.js');

export interface OperatorProcess {
  proc: ChildProcess;
  identity: string;
  /** stderr lines (JSON logs) and stdout. */
  output: string[];
  exited: Promise<number | null>;
  logs(): any[];
  waitForLog(msg: string | RegExp, timeoutMs?: number): Promise<any>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Intervals short enough for tests; production defaults are in operator/src/options.ts. */
export const FAST_FLAGS = [
  '--debounce-ms',
  '30',
  '--check-interval-seconds',
  '1',
  '--push-timeout-seconds',
  '3',
  '--lease-duration-seconds',
  '4',
  '--renew-deadline-seconds',
  '3',
  '--retry-period-seconds',
  '0.4',
  '--watch-timeout-seconds',
  '2',
];

/**
 * The real operator (`node dist/gateway/src/cli.js operator`), its real client-node informers,
 * pointed at the fake API server through a kubeconfig. Built by `npm run build`.
 */
export function startOperator(
  kube: FakeKube,
  o: { identity: string; token?: string; args?: string[]; env?: NodeJS.ProcessEnv } = { identity: 'op-a' },
): OperatorProcess {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first`);
  const kubeconfig = kube.kubeconfig(o.token ?? 't');
  const proc = spawn(
    process.execPath,
    [
      CLI,
      'operator',
      '--gateway-service',
      `${GATEWAY_NS}/${GATEWAY_SERVICE}`,
      '--health-port',
      '0',
      '--identity',
      o.identity,
      ...FAST_FLAGS,
      ...(o.args ?? []),
    ],
    {
      env: {
        PATH: process.env.PATH,
        KUBECONFIG: kubeconfig,
        SWITCHYARD_ADMIN_TOKEN: ADMIN_TOKEN,
        SWITCHYARD_LOG_LEVEL: 'debug',
        POD_NAMESPACE: GATEWAY_NS,
        ...o.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const output: string[] = [];
  const collect = (buf: Buffer) => output.push(...buf.toString('utf8').split('\n').filter(Boolean));
  proc.stdout!.on('data', collect);
  proc.stderr!.on('data', collect);
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const logs = () =>
    output.flatMap((l) => {
      try {
        return [JSON.parse(l)];
      } catch {
        return [];
      }
    });
  return {
    proc,
    identity: o.identity,
    output,
    exited,
    logs,
    waitForLog: (msg, timeoutMs = 15_000) =>
      waitFor(() => logs().find((l) => (typeof msg === 'string' ? l.msg === msg : msg.test(l.msg))), timeoutMs, `operator ${o.identity} to log ${msg}`),
    stop: async (signal = 'SIGTERM') => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
}

import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

export const CLI = join(__dirname, '..', '..', 'dist', 'gateway', 'src', 'cli.js');

export interface Proc {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** Runs the built CLI (`npm run build` first; scripts/test does). */
export function runCli(args: string[], env: Record<string, string> = {}): Proc {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, SWITCHYARD_LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (c) => (out += c));
  child.stderr!.on('data', (c) => (err += c));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, stdout: () => out, stderr: () => err, exited };
}

/** Starts `switchyard gateway` and waits for its "listening" log line; returns the ports it bound. */
export async function startGatewayProcess(
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 15000,
): Promise<Proc & { port: number; adminPort: number; stop(): Promise<number | null> }> {
  const p = runCli(['gateway', '--port', '0', '--admin-port', '0', '--host', '127.0.0.1', ...args], env);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const line = p
      .stderr()
      .split('\n')
      .find((l) => l.includes('"gateway listening"'));
    if (line) {
      const { port, adminPort } = JSON.parse(line);
      return {
        ...p,
        port,
        adminPort,
        stop: async () => {
          if (p.child.exitCode === null) p.child.kill('SIGTERM');
          return p.exited;
        },
      };
    }
    if (p.child.exitCode !== null) throw new Error(`gateway exited ${p.child.exitCode}: ${p.stderr()}`);
    if (Date.now() > deadline) {
      p.child.kill('SIGKILL');
      throw new Error(`gateway did not start: ${p.stderr()}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

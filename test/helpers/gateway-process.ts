import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, statSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import yaml from 'js-yaml';
import type { K8sObject } from '../../gateway/src/config/k8s-object';

const ROOT = path.join(__dirname, '..', '..');
const CLI = path.join(ROOT, 'dist/gateway/src/cli.js');

/** A `switchyard gateway` child process on loopback ports, with its log lines collected. */
export interface GatewayProcess {
  url: string;
  adminURL: string;
  child: ChildProcess;
  /** Parsed JSON log lines from stderr so far. */
  logs: Array<Record<string, any>>;
  /** SIGTERM and wait for the exit code. */
  stop(): Promise<number | null>;
}

/** Writes objects as multi-document YAML, the way a user would give them to `--config`. */
export function writeConfig(objects: K8sObject[]): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-'));
  const file = path.join(dir, 'config.yaml');
  writeFileSync(file, objects.map((o) => yaml.dump(o)).join('---\n'));
  return file;
}

/** Fails fast when dist/ is missing or older than the sources (these tests run the built CLI). */
export function assertBuilt(): void {
  if (!existsSync(CLI)) throw new Error('dist/ is missing: run `npm run build` first (npm test does)');
  const built = statSync(CLI).mtimeMs;
  const newest = (dir: string): number =>
    readdirSync(dir, { withFileTypes: true }).reduce((m, e) => {
      const p = path.join(dir, e.name);
      return Math.max(m, e.isDirectory() ? newest(p) : p.endsWith('.ts') ? statSync(p).mtimeMs : 0);
    }, 0);
  // tsc writes every file on each build, so the CLI's output must be newer than every source.
  if (newest(path.join(ROOT, 'gateway/src')) > built) throw new Error('dist/ is older than gateway/src: run `npm run build` first (npm test does)');
}

export async function spawnGateway(configFile: string, env: Record<string, string> = {}, args: string[] = []): Promise<GatewayProcess> {
  const child = spawn(
    process.execPath,
    [CLI, 'gateway', '--config', configFile, '--port', '0', '--admin-port', '0', '--host', '127.0.0.1', '--drain-seconds', '2', ...args],
    {
      // stdout is not read: the access log stays off unless a test moves it to stderr to read it.
      env: { ...process.env, SWITCHYARD_LOG_LEVEL: 'info', SWITCHYARD_ACCESS_LOG: 'off', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  const logs: Array<Record<string, any>> = [];
  let buf = '';
  const listening = new Promise<Record<string, any>>((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      buf += d.toString();
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        let rec: Record<string, any>;
        try {
          rec = JSON.parse(line);
        } catch {
          rec = { msg: line };
        }
        logs.push(rec);
        if (rec.msg === 'gateway listening') resolve(rec);
      }
    });
    child.once('exit', (code) => reject(new Error(`gateway exited with ${code} before listening: ${JSON.stringify(logs)}`)));
  });
  const rec = await listening;
  return {
    url: `http://127.0.0.1:${rec.port}`,
    adminURL: `http://127.0.0.1:${rec.adminPort}`,
    child,
    logs,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve(child.exitCode);
        child.once('exit', (code) => resolve(code));
        child.kill('SIGTERM');
      }),
  };
}

/** The value of one unlabelled metric (or the sum over its label sets) from /metrics. */
export async function metric(adminURL: string, name: string): Promise<number> {
  const text = await (await fetch(`${adminURL}/metrics`)).text();
  let sum = 0;
  let found = false;
  for (const line of text.split('\n')) {
    if (line.startsWith(name + ' ') || line.startsWith(name + '{')) {
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
      found = true;
    }
  }
  return found ? sum : NaN;
}

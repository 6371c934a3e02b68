import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { connect, createServer } from 'node:net';
import Redis from 'ioredis';

/** A real redis-server on a free loopback port, without persistence, that a test can stop and start again on the same port. */
export interface RedisServer {
  port: number;
  url: string;
  start(): Promise<void>;
  /** SIGKILL, as if the server died: nothing is flushed or saved. */
  stop(): Promise<void>;
  /** SIGSTOP / SIGCONT: a Redis that hangs without closing its connections. */
  pause(): void;
  resume(): void;
  /** A plain client for inspecting keys; closed by close(). */
  client(): Redis;
  close(): Promise<void>;
}

export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as { port: number }).port;
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let got = '';
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(1000, () => done(false));
    s.on('error', () => done(false));
    s.on('connect', () => s.write('PING\r\n'));
    s.on('data', (d) => {
      got += d.toString();
      if (got.includes('\r\n')) done(got.startsWith('+PONG'));
    });
  });
}

export async function startRedis(): Promise<RedisServer> {
  if (spawnSync('redis-server', ['--version']).error) {
    throw new Error('redis-server is not installed (apt-get install -y redis-server; `npm test` installs it)');
  }
  const port = await freePort();
  let proc: ChildProcess | undefined;
  let log = '';
  const clients: Redis[] = [];
  const server: RedisServer = {
    port,
    url: `redis://127.0.0.1:${port}`,
    async start() {
      log = '';
      proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning'], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      proc.stdout!.on('data', (d) => (log += d));
      proc.stderr!.on('data', (d) => (log += d));
      const deadline = Date.now() + 15_000;
      while (!(await ping(port))) {
        if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`redis-server did not start on ${port}: ${log}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async stop() {
      const p = proc;
      proc = undefined;
      if (!p || p.exitCode !== null) return;
      const exited = new Promise((resolve) => p.once('exit', resolve));
      p.kill('SIGKILL');
      await exited;
    },
    pause() {
      proc?.kill('SIGSTOP');
    },
    resume() {
      proc?.kill('SIGCONT');
    },
    client() {
      const c = new Redis(server.url, { lazyConnect: false, maxRetriesPerRequest: 1 });
      c.on('error', () => undefined);
      clients.push(c);
      return c;
    },
    async close() {
      for (const c of clients.splice(0)) c.disconnect();
      await server.stop();
    },
  };
  await server.start();
  return server;
}

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

/**
 * /healthz (the process is alive) and /readyz (every informer has listed once) for the kubelet's
 * probes, and /metrics for Prometheus (the operator has no other port to scrape).
 */
export async function startHealthServer(port: number, state: () => { ready: boolean; leader: boolean }, registry?: Registry): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const s = state();
    const reply = (code: number, body: unknown) => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (path === '/healthz') return reply(200, { status: 'ok' });
    if (path === '/readyz') return reply(s.ready ? 200 : 503, s);
    if (path === '/metrics' && registry) {
      registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': registry.contentType });
          res.end(text);
        },
        (err: Error) => reply(500, { error: err.message }),
      );
      return;
    }
    reply(404, { error: 'not found' });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, () => resolve());
  });
  return server;
}

export function portOf(server: Server): number {
  return (server.address() as AddressInfo).port;
}

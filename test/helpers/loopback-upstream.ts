import type { IncomingMessage, ServerResponse } from 'node:http';
import { Cancellation } from '../../gateway/src/core/cancellation';
import type { Target } from '../../gateway/src/core/routes';
import { UpstreamPools, httpSend, readAll, type HttpResponse } from '../../gateway/src/providers/http';
import { startServer, type TestServer } from './http-server';
import { compiledTarget } from './target';

export interface LoopbackUpstream {
  pools: UpstreamPools;
  /** Set once the describe block's beforeAll has run. */
  server: TestServer;
  target: Target;
  /** A GET through httpSend, its body read whole, as a provider's exchange would. */
  get(url: string): Promise<HttpResponse>;
}

/** An upstream on loopback for the calling describe block (started in beforeAll, closed with its pools in afterAll), and its compiled target. */
export function loopbackUpstream(handler: (req: IncomingMessage, res: ServerResponse) => void): LoopbackUpstream {
  const u = {
    pools: new UpstreamPools(),
    async get(url: string) {
      const res = await httpSend(u.pools, u.target, { url, method: 'GET', headers: {}, signal: new Cancellation() });
      await readAll(res, u.target, 1024);
      return res;
    },
  } as LoopbackUpstream;
  beforeAll(async () => {
    u.server = await startServer(handler);
    u.target = compiledTarget(u.server.url);
  });
  afterAll(async () => {
    await u.pools.close();
    await u.server.close();
  });
  return u;
}

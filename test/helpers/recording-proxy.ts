import { request } from 'node:http';
import { startServer, type TestServer } from './http-server';

export interface Forwarded {
  method: string;
  path: string;
  userAgent?: string;
  status?: number;
}

/** A pass-through HTTP proxy that records who called: tells which operator pushed to a gateway. */
export async function startRecordingProxy(targetPort: () => number): Promise<TestServer & { seen: Forwarded[] }> {
  const seen: Forwarded[] = [];
  const srv = await startServer((req, res) => {
    const rec: Forwarded = { method: req.method!, path: req.url!, userAgent: req.headers['user-agent'] };
    seen.push(rec);
    const up = request({ host: '127.0.0.1', port: targetPort(), method: req.method, path: req.url, headers: req.headers }, (ur) => {
      rec.status = ur.statusCode;
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      ur.pipe(res);
    });
    up.on('error', () => {
      rec.status = 502;
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(up);
  });
  return Object.assign(srv, { seen });
}

import { startServer, type TestServer } from './http-server';

/**
 * A loopback GCE/GKE metadata server (what Workload Identity serves to a pod), reached through
 * `GCE_METADATA_HOST`. Like the real one it answers only requests carrying `Metadata-Flavor:
 * Google`, and marks its answers with the same header (google-auth-library checks it).
 */
export interface FakeMetadata extends TestServer {
  tokenRequests: number;
}

export async function startFakeGceMetadata(opts: { token: string; projectId: string; expiresIn?: number; refuseToken?: boolean }): Promise<FakeMetadata> {
  const state = { tokenRequests: 0 };
  const server = await startServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (req.headers['metadata-flavor'] !== 'Google') {
      res.writeHead(403, { 'content-type': 'text/plain' });
      res.end('Missing Metadata-Flavor:Google header');
      return;
    }
    const send = (status: number, body: string, type = 'application/text') => {
      res.writeHead(status, { 'content-type': type, 'metadata-flavor': 'Google' });
      res.end(body);
    };
    switch (path) {
      case '/computeMetadata/v1/instance':
      case '/computeMetadata/v1/':
      case '/':
        return send(200, '');
      case '/computeMetadata/v1/project/project-id':
        return send(200, opts.projectId);
      case '/computeMetadata/v1/universe/universe-domain':
        return send(200, 'googleapis.com');
      case '/computeMetadata/v1/instance/service-accounts/default/token':
        state.tokenRequests++;
        if (opts.refuseToken) return send(403, 'Workload Identity: the Kubernetes service account is not bound to a Google service account');
        return send(200, JSON.stringify({ access_token: opts.token, expires_in: opts.expiresIn ?? 3599, token_type: 'Bearer' }), 'application/json');
      default:
        return send(404, 'not found');
    }
  });
  return Object.defineProperty(server, 'tokenRequests', { get: () => state.tokenRequests }) as FakeMetadata;
}

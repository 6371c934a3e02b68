import type * as k8s from '@kubernetes/client-node';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import type { Logger } from '../../gateway/src/log';
import type { ServiceAccountAuth } from '../../gateway/src/config/snapshot';
import { checkedJwks } from '../../gateway/src/config/service-account-auth';

export interface IssuerKeysOptions {
  kc: k8s.KubeConfig;
  audience: string;
  intervalMs: number;
  timeoutMs: number;
  log: Logger;
  /** Called when the issuer or its keys changed (a new snapshot is due). */
  onChange: () => void;
}

/**
 * Reads the cluster's ServiceAccount issuer (discovery document) and its public keys from the API
 * server, with the operator's own credentials, every `intervalMs`. Gateways get them in the
 * snapshot and verify tokens offline, holding no Kubernetes credentials. A cluster publishes a
 * new key before it signs with it, so a token signed by a key the gateways lack is refused for at
 * most one interval plus a push. A failed read keeps the keys already known.
 */
export class IssuerKeys {
  private auth?: ServiceAccountAuth;
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;

  constructor(private readonly o: IssuerKeysOptions) {}

  current(): ServiceAccountAuth | undefined {
    return this.auth;
  }

  start(): void {
    if (this.timer) return;
    void this.refresh();
    // Never more than once a second, whatever the flag says: the API server is shared.
    this.timer = setInterval(() => void this.refresh(), Math.max(1000, this.o.intervalMs));
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One read of discovery and keys; concurrent calls share it. */
  refresh(): Promise<void> {
    this.running ??= this.read().finally(() => (this.running = undefined));
    return this.running;
  }

  private async read(): Promise<void> {
    try {
      const discovery = (await this.get('/.well-known/openid-configuration')) as { issuer?: unknown };
      if (typeof discovery?.issuer !== 'string' || !discovery.issuer) throw new Error('discovery document has no issuer');
      // Keys are read from the API server itself, not from jwks_uri: that URL names the issuer's
      // public host, which the operator may not reach and which would not take its credentials.
      const jwks = checkedJwks(await this.get('/openid/v1/jwks'), '/openid/v1/jwks');
      const next: ServiceAccountAuth = { issuer: discovery.issuer, audience: this.o.audience, jwks };
      if (JSON.stringify(next) === JSON.stringify(this.auth)) return;
      const first = !this.auth;
      this.auth = next;
      this.o.log.info(first ? 'ServiceAccount issuer keys loaded' : 'ServiceAccount issuer keys changed', {
        issuer: next.issuer,
        audience: next.audience,
        kids: jwks.keys.map((k) => k.kid ?? null),
      });
      this.o.onChange();
    } catch (err) {
      this.o.log.warn('cannot read the ServiceAccount issuer keys; keeping the last ones', { err: (err as Error).message, known: !!this.auth });
    }
  }

  private async get(path: string): Promise<unknown> {
    const cluster = this.o.kc.getCurrentCluster();
    if (!cluster) throw new Error('no current cluster in the Kubernetes configuration');
    const url = new URL(path, cluster.server.replace(/\/?$/, '/'));
    const opts: RequestOptions = { method: 'GET', headers: { accept: 'application/json' } };
    // Adds the CA, client certificate or bearer token of the operator's kubeconfig / in-cluster account.
    await this.o.kc.applyToHTTPSOptions(opts);
    const request = url.protocol === 'http:' ? httpRequest : httpsRequest;
    return new Promise((resolve, reject) => {
      const req = request(url, { ...opts, timeout: this.o.timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          // A JWK set is a few KB; anything huge is not one.
          if (size > 1 << 20) req.destroy(new Error(`${path}: response larger than 1 MiB`));
          else chunks.push(c);
        });
        res.on('end', () => {
          if (res.statusCode !== 200)
            return reject(new Error(`${path}: HTTP ${res.statusCode}${res.statusCode === 403 ? ' (the operator needs get on this non-resource URL)' : ''}`));
          try {
            resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
          } catch {
            reject(new Error(`${path}: not JSON`));
          }
        });
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`${path}: timed out`)));
      req.on('error', reject);
      req.end();
    });
  }
}

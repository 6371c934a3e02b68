import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';

export interface OperatorOptions {
  gatewayNamespace: string;
  gatewayService: string;
  /** Watch CRs and Secrets in this namespace only; all namespaces when unset. */
  namespace?: string;
  adminPortName: string;
  /** /healthz and /readyz; 0 picks a free port. */
  healthPort: number;
  identity: string;
  leaseNamespace: string;
  leaseName: string;
  debounceMs: number;
  checkIntervalMs: number;
  resyncMs: number;
  pushTimeoutMs: number;
  pushWaitMs: number;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  watchTimeoutSeconds: number;
  watchdogMs: number;
  /** How often every gateway's GET /admin/usage is read for ApiKey.status.usage. */
  usageIntervalMs: number;
  /** Audience ServiceAccount tokens must carry; how often the issuer's keys are re-read (0: never read, no ServiceAccount auth). */
  saAudience: string;
  saKeysRefreshMs: number;
  adminToken: string;
}

export const OPERATOR_USAGE = `Usage: switchyard operator --gateway-service NS/NAME [--namespace NS] [--admin-port-name admin]
         [--health-port 8081] [--identity ID] [--debounce-ms 100] [--check-interval-seconds 15]
         [--resync-seconds 300] [--push-timeout-seconds 10] [--lease-duration-seconds 15]
         [--renew-deadline-seconds 10] [--retry-period-seconds 2] [--watch-timeout-seconds 300]
         [--usage-interval-seconds 30] [--lease-name switchyard-operator]
         [--sa-audience switchyard] [--sa-keys-refresh-seconds 300]

Environment: SWITCHYARD_ADMIN_TOKEN (required), KUBECONFIG (else ~/.kube/config, else in-cluster),
POD_NAMESPACE (namespace of the Lease; default: the gateway Service's), POD_NAME.`;

export class UsageError extends Error {}

function saAudience(v: string): string {
  if (!v.trim()) throw new UsageError('--sa-audience must not be empty');
  return v;
}

export function parseOperatorArgs(argv: string[], env: NodeJS.ProcessEnv): OperatorOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      'gateway-service': { type: 'string' },
      namespace: { type: 'string' },
      'admin-port-name': { type: 'string', default: 'admin' },
      'health-port': { type: 'string', default: '8081' },
      identity: { type: 'string' },
      'debounce-ms': { type: 'string', default: '100' },
      'check-interval-seconds': { type: 'string', default: '15' },
      'resync-seconds': { type: 'string', default: '300' },
      'push-timeout-seconds': { type: 'string', default: '10' },
      'lease-duration-seconds': { type: 'string', default: '15' },
      'renew-deadline-seconds': { type: 'string', default: '10' },
      'retry-period-seconds': { type: 'string', default: '2' },
      'watch-timeout-seconds': { type: 'string', default: '300' },
      'usage-interval-seconds': { type: 'string', default: '30' },
      // One per installation: two releases in one namespace sharing a Lease would leave one of
      // them without a leader, and its gateways without configuration.
      'lease-name': { type: 'string', default: 'switchyard-operator' },
      'sa-audience': { type: 'string', default: 'switchyard' },
      'sa-keys-refresh-seconds': { type: 'string', default: '300' },
    },
  });
  const svc = values['gateway-service'];
  const m = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/([a-z0-9]([-a-z0-9]*[a-z0-9])?)$/.exec(svc ?? '');
  if (!m) throw new UsageError(`--gateway-service must be NAMESPACE/NAME of the gateway Service${svc ? `, got '${svc}'` : ''}`);
  const num = (name: keyof typeof values, min: number) => {
    const v = Number(values[name]);
    if (!Number.isFinite(v) || v < min) throw new UsageError(`--${name}: '${values[name]}' is not a number >= ${min}`);
    return v;
  };
  const adminToken = env.SWITCHYARD_ADMIN_TOKEN ?? '';
  if (!adminToken) throw new UsageError('SWITCHYARD_ADMIN_TOKEN is not set: the gateways refuse configuration pushes without it');
  const leaseDurationMs = num('lease-duration-seconds', 0.1) * 1000;
  const renewDeadlineMs = num('renew-deadline-seconds', 0.1) * 1000;
  const retryPeriodMs = num('retry-period-seconds', 0.05) * 1000;
  // client-go's own sanity rules for the three durations.
  if (leaseDurationMs <= renewDeadlineMs) throw new UsageError('--lease-duration-seconds must be greater than --renew-deadline-seconds');
  if (renewDeadlineMs <= 1.2 * retryPeriodMs) throw new UsageError('--renew-deadline-seconds must be greater than 1.2 × --retry-period-seconds');
  const leaseName = values['lease-name']!;
  if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(leaseName) || leaseName.length > 253) throw new UsageError(`--lease-name: '${leaseName}' is not a valid object name (lower-case DNS subdomain)`);
  const watchTimeoutSeconds = Math.max(1, Math.round(num('watch-timeout-seconds', 1)));
  const namespace = values.namespace || undefined;
  const gatewayNamespace = m[1];
  return {
    gatewayNamespace,
    gatewayService: m[3],
    namespace,
    adminPortName: values['admin-port-name']!,
    healthPort: num('health-port', 0),
    identity: values.identity || `${env.POD_NAME || hostname()}_${randomBytes(4).toString('hex')}`,
    leaseNamespace: env.POD_NAMESPACE || gatewayNamespace,
    leaseName,
    debounceMs: num('debounce-ms', 0),
    checkIntervalMs: num('check-interval-seconds', 0.1) * 1000,
    resyncMs: num('resync-seconds', 1) * 1000,
    pushTimeoutMs: num('push-timeout-seconds', 0.1) * 1000,
    pushWaitMs: 250,
    leaseDurationMs,
    renewDeadlineMs,
    retryPeriodMs,
    watchTimeoutSeconds,
    // Past the server's own timeout plus slack, silence means the connection is dead.
    watchdogMs: (watchTimeoutSeconds + Math.min(60, Math.max(2, watchTimeoutSeconds))) * 1000,
    usageIntervalMs: num('usage-interval-seconds', 0.1) * 1000,
    saAudience: saAudience(values['sa-audience']!),
    saKeysRefreshMs: num('sa-keys-refresh-seconds', 0) * 1000,
    adminToken,
  };
}

import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { parseCommand, UsageError, type CommandSpec, type Parsed } from '../../gateway/src/cli-spec';

export interface OperatorOptions {
  gatewayNamespace: string;
  gatewayService: string;
  /** Watch CRs and Secrets in these namespaces only; all namespaces when empty. */
  namespaces: string[];
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

export const OPERATOR_COMMAND: CommandSpec = {
  name: 'operator',
  summary:
    'Compiles ModelRoutes, ApiKeys and their Secrets and pushes the result to every gateway pod. Runs\nin a cluster (or against KUBECONFIG); replicas elect one leader through a Lease.',
  flags: [
    { name: 'gateway-service', arg: 'NS/NAME', help: 'The gateway Service whose pods get the configuration (required)' },
    {
      name: 'namespace',
      arg: 'NS',
      multiple: true,
      help: 'Watch ModelRoutes, ApiKeys and Secrets only in these namespaces (comma-separated too); all namespaces when absent',
    },
    { name: 'admin-port-name', arg: 'NAME', default: 'admin', help: "Name of the gateway pods' admin port in the EndpointSlices" },
    {
      name: 'health-port',
      arg: 'N',
      default: '8081',
      number: { min: 0, max: 65535, integer: true },
      help: '/healthz, /readyz and /metrics; 0 picks a free port',
    },
    { name: 'identity', arg: 'ID', help: 'Lease holder identity (default POD_NAME or the host name, plus a random suffix)' },
    { name: 'debounce-ms', arg: 'MS', default: '100', number: { min: 0 }, help: 'Quiet time after a change before recompiling' },
    { name: 'check-interval-seconds', arg: 'S', default: '15', number: { min: 0.1 }, help: "How often each gateway's running configuration is checked" },
    { name: 'resync-seconds', arg: 'S', default: '300', number: { min: 1 }, help: 'Full reconcile even without changes' },
    { name: 'push-timeout-seconds', arg: 'S', default: '10', number: { min: 0.1 }, help: 'Longest wait for one push or usage read' },
    { name: 'lease-duration-seconds', arg: 'S', default: '15', number: { min: 0.1 }, help: 'Leader election: how long a Lease is valid' },
    {
      name: 'renew-deadline-seconds',
      arg: 'S',
      default: '10',
      number: { min: 0.1 },
      help: 'Leader election: the leader gives up if it cannot renew within this',
    },
    { name: 'retry-period-seconds', arg: 'S', default: '2', number: { min: 0.05 }, help: 'Leader election: how often candidates try' },
    { name: 'watch-timeout-seconds', arg: 'S', default: '300', number: { min: 1 }, help: 'Server-side timeout of each watch (it is then renewed)' },
    {
      name: 'usage-interval-seconds',
      arg: 'S',
      default: '30',
      number: { min: 0.1 },
      help: "How often every gateway's /admin/usage is read for ApiKey.status.usage",
    },
    // One per installation: two releases in one namespace sharing a Lease would leave one of
    // them without a leader, and its gateways without configuration.
    { name: 'lease-name', arg: 'NAME', default: 'switchyard-operator', help: 'Name of the Lease (one per installation)' },
    { name: 'sa-audience', arg: 'AUD', default: 'switchyard', help: 'Audience a ServiceAccount token must carry to be admitted' },
    {
      name: 'sa-keys-refresh-seconds',
      arg: 'S',
      default: '300',
      number: { min: 0 },
      help: "How often the cluster's issuer discovery and JWKS are re-read (0: never)",
    },
  ],
  env: [
    { name: 'SWITCHYARD_ADMIN_TOKEN', help: "The gateways' admin token (required): pushes and usage reads carry it" },
    { name: 'SWITCHYARD_LOG_LEVEL', help: 'debug | info (default) | warn | error' },
    { name: 'KUBECONFIG', help: 'Kubernetes client configuration (else ~/.kube/config, else in-cluster)' },
    { name: 'POD_NAMESPACE', help: "Namespace of the Lease (default: the gateway Service's)" },
    { name: 'POD_NAME', help: 'Prefix of the default --identity' },
  ],
};

export { UsageError };

function saAudience(v: string): string {
  if (!v.trim()) throw new UsageError('--sa-audience must not be empty');
  return v;
}

export function parseOperatorArgs(argv: string[], env: NodeJS.ProcessEnv): OperatorOptions {
  const args = parseCommand(OPERATOR_COMMAND, argv, env);
  if (args.help) throw new UsageError('--help is handled by the caller');
  return operatorOptions(args, env);
}

export function operatorOptions(args: Parsed, env: NodeJS.ProcessEnv): OperatorOptions {
  const svc = args.string('gateway-service');
  const m = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/([a-z0-9]([-a-z0-9]*[a-z0-9])?)$/.exec(svc ?? '');
  if (!m) throw new UsageError(`--gateway-service must be NAMESPACE/NAME of the gateway Service${svc ? `, got '${svc}'` : ''}`);
  const adminToken = env.SWITCHYARD_ADMIN_TOKEN ?? '';
  if (!adminToken) throw new UsageError('SWITCHYARD_ADMIN_TOKEN is not set: the gateways refuse configuration pushes without it');
  const leaseDurationMs = args.number('lease-duration-seconds') * 1000;
  const renewDeadlineMs = args.number('renew-deadline-seconds') * 1000;
  const retryPeriodMs = args.number('retry-period-seconds') * 1000;
  // client-go's own sanity rules for the three durations.
  if (leaseDurationMs <= renewDeadlineMs) throw new UsageError('--lease-duration-seconds must be greater than --renew-deadline-seconds');
  if (renewDeadlineMs <= 1.2 * retryPeriodMs) throw new UsageError('--renew-deadline-seconds must be greater than 1.2 × --retry-period-seconds');
  const leaseName = args.string('lease-name')!;
  if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(leaseName) || leaseName.length > 253)
    throw new UsageError(`--lease-name: '${leaseName}' is not a valid object name (lower-case DNS subdomain)`);
  const namespaces = [...new Set(args.list('namespace'))];
  for (const ns of namespaces)
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(ns) || ns.length > 63) throw new UsageError(`--namespace: '${ns}' is not a namespace name`);
  const watchTimeoutSeconds = Math.max(1, Math.round(args.number('watch-timeout-seconds')));
  const gatewayNamespace = m[1];
  return {
    gatewayNamespace,
    gatewayService: m[3],
    namespaces,
    adminPortName: args.string('admin-port-name')!,
    healthPort: args.number('health-port'),
    identity: args.string('identity') || `${env.POD_NAME || hostname()}_${randomBytes(4).toString('hex')}`,
    leaseNamespace: env.POD_NAMESPACE || gatewayNamespace,
    leaseName,
    debounceMs: args.number('debounce-ms'),
    checkIntervalMs: args.number('check-interval-seconds') * 1000,
    resyncMs: args.number('resync-seconds') * 1000,
    pushTimeoutMs: args.number('push-timeout-seconds') * 1000,
    pushWaitMs: 250,
    leaseDurationMs,
    renewDeadlineMs,
    retryPeriodMs,
    watchTimeoutSeconds,
    // Past the server's own timeout plus slack, silence means the connection is dead.
    watchdogMs: (watchTimeoutSeconds + Math.min(60, Math.max(2, watchTimeoutSeconds))) * 1000,
    usageIntervalMs: args.number('usage-interval-seconds') * 1000,
    saAudience: saAudience(args.string('sa-audience') ?? ''),
    saKeysRefreshMs: args.number('sa-keys-refresh-seconds') * 1000,
    adminToken,
  };
}

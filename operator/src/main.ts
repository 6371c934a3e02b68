import * as k8s from '@kubernetes/client-node';
import type { Server } from 'node:http';
import { createLogger } from '../../gateway/src/log';
import { validateAndDefault } from '../../gateway/src/config/crd-schema';
import { portOf, startHealthServer } from './health';
import { Informers } from './informers';
import { IssuerKeys } from './issuer-keys';
import { KubeClient } from './kube';
import { LeaderElector } from './leader';
import { appVersion, helpText, parseCommand } from '../../gateway/src/cli-spec';
import { OperatorMetrics } from './metrics';
import { OPERATOR_COMMAND, operatorOptions, UsageError, type OperatorOptions } from './options';
import { Pusher } from './push';
import { Reconciler } from './reconcile';
import { objectKey, type K8sObject } from '../../gateway/src/config/k8s-object';
import { UsagePoller } from './usage';

/**
 * `switchyard operator`: informers feed a level-triggered reconciler, which only the Lease
 * holder runs. Loaded lazily by the CLI, so `switchyard gateway` never loads client-node.
 */
export async function runOperator(argv: string[]): Promise<number> {
  let opts: OperatorOptions;
  try {
    const args = parseCommand(OPERATOR_COMMAND, argv, process.env);
    if (args.help) {
      process.stdout.write(helpText(OPERATOR_COMMAND) + '\n');
      return 0;
    }
    opts = operatorOptions(args, process.env);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`switchyard operator: ${err.message}\n\n${helpText(OPERATOR_COMMAND)}\n`);
      return 2;
    }
    throw err;
  }
  const metrics = new OperatorMetrics();
  const log = createLogger('operator');
  const kc = new k8s.KubeConfig();
  try {
    kc.loadFromDefault();
  } catch (err) {
    process.stderr.write(
      `switchyard operator: cannot load the Kubernetes configuration (KUBECONFIG, ~/.kube/config or in-cluster): ${(err as Error).message}\n`,
    );
    return 2;
  }
  const client = new KubeClient(kc);
  const service = `${opts.gatewayNamespace}/${opts.gatewayService}`;

  // eslint-disable-next-line prefer-const
  let reconciler: Reconciler;
  const pusher = new Pusher({
    token: opts.adminToken,
    timeoutMs: opts.pushTimeoutMs,
    checkIntervalMs: opts.checkIntervalMs,
    backoffBaseMs: 200,
    // Never wait longer between retries than between routine checks.
    backoffMaxMs: Math.min(10_000, opts.checkIntervalMs),
    userAgent: `switchyard-operator (${opts.identity})`,
    log,
    onChange: () => reconciler.schedule(),
    onNewerSerial: (s) => reconciler.newerSerialSeen(s),
    metrics,
  });

  const informers = new Informers(kc, {
    namespaces: opts.namespaces,
    gatewayNamespace: opts.gatewayNamespace,
    gatewayService: opts.gatewayService,
    watchTimeoutSeconds: opts.watchTimeoutSeconds,
    watchdogMs: opts.watchdogMs,
    backoffBaseMs: 250,
    backoffMaxMs: 15_000,
    log,
    onChange: (what, obj) => {
      // Secrets change all the time in a cluster; only the ones a route or key names matter.
      if (what === 'Secret' && !referenced(informers, obj)) return;
      reconciler.schedule();
    },
    onSynced: () => {
      log.info('caches synced');
      reconciler.schedule(0);
    },
    onRestart: (resource) => metrics.informerRestarted(resource),
  });

  // status.usage.updatedAt moves at least this often even when nothing changed.
  const usageRefreshMs = 10 * opts.usageIntervalMs;
  const usage = new UsagePoller({
    token: opts.adminToken,
    timeoutMs: opts.pushTimeoutMs,
    intervalMs: opts.usageIntervalMs,
    refreshMs: usageRefreshMs,
    userAgent: `switchyard-operator (${opts.identity})`,
    log,
    pods: () => pusher.view(),
    onChange: () => reconciler.schedule(),
  });

  const issuerKeys = new IssuerKeys({
    kc,
    audience: opts.saAudience,
    intervalMs: opts.saKeysRefreshMs,
    timeoutMs: opts.pushTimeoutMs,
    log,
    onChange: () => reconciler.schedule(),
  });

  reconciler = new Reconciler({
    caches: informers,
    pusher,
    client,
    log,
    service,
    adminPortName: opts.adminPortName,
    identity: opts.identity,
    debounceMs: opts.debounceMs,
    pushWaitMs: opts.pushWaitMs,
    usage: { get: (key) => usage.get(key), shadow: (route, name, revision) => usage.shadow(route, name, revision), refreshMs: usageRefreshMs },
    metrics,
    serviceAccountAuth: () => issuerKeys.current(),
  });

  let stopping = false;
  const elector = new LeaderElector({
    client,
    namespace: opts.leaseNamespace,
    name: opts.leaseName,
    identity: opts.identity,
    leaseDurationMs: opts.leaseDurationMs,
    renewDeadlineMs: opts.renewDeadlineMs,
    retryPeriodMs: opts.retryPeriodMs,
    log,
    onStartedLeading: () => {
      metrics.leading(true);
      pusher.start();
      reconciler.activate();
      usage.start();
      if (opts.saKeysRefreshMs > 0) issuerKeys.start();
    },
    onStoppedLeading: () => {
      metrics.leading(false);
      // Another replica may lead now: stop writing at once and let the Deployment restart us as a candidate.
      reconciler.deactivate();
      pusher.stop();
      usage.stop();
      issuerKeys.stop();
      if (!stopping) exit(1);
    },
  });

  const health: { server?: Server } = {};
  const resync = setInterval(() => reconciler.schedule(), opts.resyncMs);
  let exitCode = 0;
  let done!: (code: number) => void;
  const finished = new Promise<number>((r) => (done = r));
  const exit = (code: number) => {
    exitCode = code;
    void shutdown('leadership lost');
  };

  const shutdown = async (why: string) => {
    if (stopping) return;
    stopping = true;
    log.info('shutting down', { reason: why });
    clearInterval(resync);
    reconciler.deactivate();
    pusher.stop();
    usage.stop();
    issuerKeys.stop();
    await elector.release();
    await informers.stop().catch(() => undefined);
    await new Promise<void>((r) => (health.server ? health.server.close(() => r()) : r()));
    done(exitCode);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));

  // ajv compiles the CRD validators on first use (most of a second on a busy node); not on the first change.
  validateAndDefault('ModelRoute', {});
  validateAndDefault('ApiKey', {});
  health.server = await startHealthServer(opts.healthPort, () => ({ ready: informers.synced(), leader: elector.isLeader }), metrics.registry);
  log.info('operator starting', {
    appVersion: appVersion(),
    identity: opts.identity,
    gatewayService: service,
    namespaces: opts.namespaces.length ? opts.namespaces : '(all)',
    lease: `${opts.leaseNamespace}/${opts.leaseName}`,
    apiServer: kc.getCurrentCluster()?.server,
    healthPort: portOf(health.server),
  });
  void informers.start();
  void elector.run();
  const code = await finished;
  // client-node may keep sockets (a watch still being opened) alive; the process has nothing left to do.
  setTimeout(() => process.exit(code), 200).unref();
  return code;
}

function referenced(caches: Informers, secret: K8sObject): boolean {
  const key = objectKey(secret);
  const ns = secret.metadata.namespace ?? 'default';
  for (const r of caches.routes()) {
    if ((r.metadata.namespace ?? 'default') !== ns) continue;
    for (const t of Array.isArray(r.spec?.targets) ? r.spec.targets : []) if (`${ns}/${t?.credentialsRef?.name}` === key) return true;
  }
  for (const k of caches.keys()) if ((k.metadata.namespace ?? 'default') === ns && `${ns}/${k.spec?.secretRef?.name}` === key) return true;
  return false;
}

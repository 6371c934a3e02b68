import * as k8s from '@kubernetes/client-node';
import type { Logger } from '../../gateway/src/log';
import { Backoff, sleep } from './backoff';
import type { Caches } from './reconcile';
import { GROUP, VERSION, type K8sObject } from '../../gateway/src/config/k8s-object';

export interface InformerOptions {
  /**
   * Watch CRs and Secrets in these namespaces only, one informer each (the RBAC can then be a
   * Role per namespace); all namespaces, cluster-wide, when empty.
   */
  namespaces: string[];
  gatewayNamespace: string;
  gatewayService: string;
  /** Asked of the server on every watch; it ends the stream then and the informer re-watches. */
  watchTimeoutSeconds: number;
  /** No watch (re)connect or event for this long means a half-open connection: restart the watch. */
  watchdogMs: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  log: Logger;
  onChange(what: 'ModelRoute' | 'ApiKey' | 'Secret' | 'EndpointSlice', obj: K8sObject): void;
  onSynced(): void;
  /** A watch was restarted after an error or a silence (`resource`: modelroutes, apikeys, secrets, endpointslices). */
  onRestart?(resource: string): void;
}

/**
 * Secrets the operator never needs, left out server-side: Helm release records are large and
 * numerous, and service-account tokens are credentials it has no business caching.
 */
export const SECRET_FIELD_SELECTOR = 'type!=helm.sh/release.v1,type!=kubernetes.io/service-account-token';

/**
 * One client-node ListWatch kept alive. client-node's informer re-watches by itself when the
 * server ends a stream and relists on 410, but on any other failure (API server down, 500, a
 * reset) it fires `error` once and stops; this restarts it with backoff. stop()/start() make it
 * fire `error` with an AbortError, which is ours and ignored. A watch can also go silent on a
 * half-open connection (client-node sets no timeout), so a watchdog restarts a watch that has
 * shown no sign of life for longer than the server's own timeout.
 */
class KeptInformer {
  readonly lw: k8s.ListWatch<k8s.KubernetesObject>;
  synced = false;
  private stopped = false;
  private failed = false;
  private restartTimer?: NodeJS.Timeout;
  private watchdog?: NodeJS.Timeout;
  private lastSign = Date.now();
  private readonly backoff: Backoff;

  constructor(
    readonly name: string,
    private readonly resource: string,
    kc: k8s.KubeConfig,
    path: string,
    list: () => Promise<k8s.KubernetesListObject<k8s.KubernetesObject>>,
    private readonly o: InformerOptions,
    onEvent: (obj: K8sObject) => void,
    private readonly onFirstSync: () => void,
    labelSelector?: string,
    fieldSelector?: string,
  ) {
    this.backoff = new Backoff(o.backoffBaseMs, o.backoffMaxMs);
    // client-node's informer asks for neither bookmarks nor a timeout, but keeps a query in the path.
    const query = `?timeoutSeconds=${o.watchTimeoutSeconds}&allowWatchBookmarks=true`;
    this.lw = new k8s.ListWatch(path + query, new k8s.Watch(kc), list, false, labelSelector, fieldSelector);
    const handle = (obj: k8s.KubernetesObject) => {
      this.lastSign = Date.now();
      o.log.debug('watch event', {
        informer: name,
        object: `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`,
        resourceVersion: obj.metadata?.resourceVersion,
      });
      // A throwing callback would be an unhandled rejection inside client-node.
      try {
        onEvent(obj as K8sObject);
      } catch (err) {
        o.log.error('informer handler failed', { informer: name, error: (err as Error)?.message });
      }
    };
    this.lw.on(k8s.ADD, handle);
    this.lw.on(k8s.UPDATE, handle);
    this.lw.on(k8s.DELETE, handle);
    this.lw.on(k8s.CONNECT, () => {
      this.lastSign = Date.now();
    });
    this.lw.on(k8s.ERROR, (err: unknown) => this.onError(err));
  }

  async start(): Promise<void> {
    this.stopped = false;
    this.watchdog ??= setInterval(() => void this.checkPulse(), Math.max(250, Math.floor(this.o.watchdogMs / 4)));
    await this.startOnce();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    clearInterval(this.watchdog);
    this.watchdog = undefined;
    await this.lw.stop();
  }

  private async startOnce(): Promise<void> {
    this.failed = false;
    this.lastSign = Date.now();
    try {
      // Resolves once the watch is established, or after a failed list (reported through `error`).
      await this.lw.start();
    } catch (err) {
      this.onError(err);
    }
    if (this.failed || this.stopped) return;
    this.backoff.reset();
    if (!this.synced) {
      this.synced = true;
      this.o.log.info('informer synced', { informer: this.name, objects: this.lw.list().length });
      this.onFirstSync();
    }
  }

  private onError(err: unknown): void {
    if (this.stopped || (err as Error)?.name === 'AbortError') return;
    this.failed = true;
    if (this.restartTimer) return;
    const delay = this.backoff.next();
    this.o.onRestart?.(this.resource);
    this.o.log.warn('watch failed; restarting', { informer: this.name, error: describe(err), retryInMs: delay });
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (!this.stopped) void this.startOnce();
    }, delay);
  }

  private async checkPulse(): Promise<void> {
    if (this.stopped || this.restartTimer || Date.now() - this.lastSign < this.o.watchdogMs) return;
    this.o.log.warn('watch silent for too long; restarting it', { informer: this.name, silentMs: Date.now() - this.lastSign });
    this.o.onRestart?.(this.resource);
    this.lastSign = Date.now();
    await this.lw.stop();
    // Let the aborted request's AbortError land before the new watch exists (it would abort that one).
    await sleep(50);
    if (!this.stopped) await this.startOnce();
  }
}

function describe(err: unknown): string {
  const e = err as { statusCode?: number; code?: unknown; message?: string; cause?: { code?: string } };
  if (typeof e?.statusCode === 'number') return `HTTP ${e.statusCode}`;
  if (typeof e?.code === 'number') return `HTTP ${e.code}`;
  return e?.cause?.code ?? (typeof e?.code === 'string' ? e.code : undefined) ?? e?.message ?? String(err);
}

/** The operator's informers (routes, keys and Secrets per watched namespace; the gateway's EndpointSlices), exposed to the reconciler as its caches. */
export class Informers implements Caches {
  private readonly routesInf: KeptInformer[];
  private readonly keysInf: KeptInformer[];
  private readonly secretsInf: KeptInformer[];
  private readonly slicesInf: KeptInformer;

  constructor(kc: k8s.KubeConfig, o: InformerOptions) {
    const co = kc.makeApiClient(k8s.CustomObjectsApi);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const discovery = kc.makeApiClient(k8s.DiscoveryV1Api);
    // undefined: one cluster-wide informer per resource.
    const scopes: (string | undefined)[] = o.namespaces.length ? o.namespaces : [undefined];
    const named = (resource: string, ns: string | undefined) => (ns ? `${resource}/${ns}` : resource);
    const onSynced = () => {
      if (this.synced()) o.onSynced();
    };
    const custom = (plural: string, kind: 'ModelRoute' | 'ApiKey') =>
      scopes.map(
        (ns) =>
          new KeptInformer(
            named(plural, ns),
            plural,
            kc,
            ns ? `/apis/${GROUP}/${VERSION}/namespaces/${ns}/${plural}` : `/apis/${GROUP}/${VERSION}/${plural}`,
            () =>
              ns
                ? co.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns, plural })
                : co.listClusterCustomObject({ group: GROUP, version: VERSION, plural }),
            o,
            (obj) => o.onChange(kind, obj),
            onSynced,
          ),
      );
    this.routesInf = custom('modelroutes', 'ModelRoute');
    this.keysInf = custom('apikeys', 'ApiKey');
    // Selectors go only on the watch in client-node; the list function must apply them too.
    this.secretsInf = scopes.map(
      (ns) =>
        new KeptInformer(
          named('secrets', ns),
          'secrets',
          kc,
          ns ? `/api/v1/namespaces/${ns}/secrets` : '/api/v1/secrets',
          () =>
            ns
              ? core.listNamespacedSecret({ namespace: ns, fieldSelector: SECRET_FIELD_SELECTOR })
              : core.listSecretForAllNamespaces({ fieldSelector: SECRET_FIELD_SELECTOR }),
          o,
          (obj) => o.onChange('Secret', obj),
          onSynced,
          undefined,
          SECRET_FIELD_SELECTOR,
        ),
    );
    const selector = `kubernetes.io/service-name=${o.gatewayService}`;
    this.slicesInf = new KeptInformer(
      'endpointslices',
      'endpointslices',
      kc,
      `/apis/discovery.k8s.io/v1/namespaces/${o.gatewayNamespace}/endpointslices`,
      () => discovery.listNamespacedEndpointSlice({ namespace: o.gatewayNamespace, labelSelector: selector }),
      o,
      (obj) => o.onChange('EndpointSlice', obj),
      onSynced,
      selector,
    );
  }

  private get all(): KeptInformer[] {
    return [...this.routesInf, ...this.keysInf, ...this.secretsInf, this.slicesInf];
  }

  async start(): Promise<void> {
    await Promise.all(this.all.map((i) => i.start()));
  }

  async stop(): Promise<void> {
    await Promise.all(this.all.map((i) => i.stop()));
  }

  synced(): boolean {
    return this.all.every((i) => i.synced);
  }

  routes(): K8sObject[] {
    return this.routesInf.flatMap((i) => i.lw.list()) as K8sObject[];
  }

  keys(): K8sObject[] {
    return this.keysInf.flatMap((i) => i.lw.list()) as K8sObject[];
  }

  secrets(): K8sObject[] {
    return this.secretsInf.flatMap((i) => i.lw.list()) as K8sObject[];
  }

  slices(): any[] {
    return [...this.slicesInf.lw.list()];
  }
}

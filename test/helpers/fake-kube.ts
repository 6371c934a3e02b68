import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyPatch, type Operation } from 'fast-json-patch';
import yaml from 'js-yaml';
import { validateObject } from './crd-validation';

/**
 * An in-test Kubernetes API server that speaks the REST and watch protocol client-node uses:
 * lists with resourceVersion (and limit/continue), chunked watch streams of
 * ADDED/MODIFIED/DELETED/BOOKMARK with history replay and 410 Expired past compaction, label and
 * field selectors, create/update/patch/delete with the real status codes, the /status
 * subresource with status stripping and generation bumps, Secrets' stringData folding, MicroTime
 * checks for Leases and events.k8s.io Events, bearer-token auth, a request log (with RBAC verbs)
 * and fault hooks (fail the next request, end/freeze/expire watches, restart).
 *
 * Not modelled: server-side apply field ownership, admission, RBAC enforcement.
 */

export interface ResourceDef {
  group: string;
  version: string;
  plural: string;
  kind: string;
  namespaced: boolean;
  /** Custom resource: list items carry apiVersion/kind; generation is tracked; schema enforced. */
  custom?: boolean;
  statusSubresource?: boolean;
  /** Extra field-selector labels besides metadata.name/namespace. */
  fields?: Record<string, (o: any) => string | undefined>;
}

export const RESOURCES: ResourceDef[] = [
  { group: '', version: 'v1', plural: 'secrets', kind: 'Secret', namespaced: true, fields: { type: (o) => o.type } },
  { group: '', version: 'v1', plural: 'configmaps', kind: 'ConfigMap', namespaced: true },
  { group: '', version: 'v1', plural: 'events', kind: 'Event', namespaced: true },
  { group: '', version: 'v1', plural: 'namespaces', kind: 'Namespace', namespaced: false },
  { group: 'events.k8s.io', version: 'v1', plural: 'events', kind: 'Event', namespaced: true },
  { group: 'discovery.k8s.io', version: 'v1', plural: 'endpointslices', kind: 'EndpointSlice', namespaced: true },
  { group: 'coordination.k8s.io', version: 'v1', plural: 'leases', kind: 'Lease', namespaced: true },
  { group: 'switchyard.dev', version: 'v1alpha1', plural: 'modelroutes', kind: 'ModelRoute', namespaced: true, custom: true, statusSubresource: true },
  { group: 'switchyard.dev', version: 'v1alpha1', plural: 'apikeys', kind: 'ApiKey', namespaced: true, custom: true, statusSubresource: true },
];

export interface LoggedRequest {
  time: number;
  method: string;
  path: string;
  query: Record<string, string>;
  /** The RBAC verb this request needs (get, list, watch, create, update, patch, delete, deletecollection). */
  verb: string;
  apiGroup: string;
  /** Plural, with `/status` for the subresource (as RBAC names it). */
  resource: string;
  namespace?: string;
  name?: string;
  code: number;
  /** The bearer token used; tests give each client its own. */
  token?: string;
  contentType?: string;
}

export interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: any;
}

interface HistoryEntry {
  rv: number;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  obj: any;
  prev?: any;
}

interface Watcher {
  def: ResourceDef;
  namespace?: string;
  label?: Selector;
  field?: Selector;
  bookmarks: boolean;
  res: ServerResponse;
  frozen: boolean;
  timers: NodeJS.Timeout[];
  token?: string;
}

interface FailRule {
  code: number;
  remaining: number;
  match?: (r: { method: string; verb: string; resource: string; path: string; query: Record<string, string> }) => boolean;
}

export class KubeError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: object,
  ) {
    super(message);
  }
  status() {
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      details: this.details,
      code: this.code,
    };
  }
}

export interface FakeKubeOptions {
  /** Accepted bearer tokens (default ['t']). */
  tokens?: string[];
  /** Enforce the CRD schemas (ajv + CEL) and apply their defaults on CR writes, like a real server. */
  validate?: boolean;
  /** How often to send BOOKMARKs to watches that asked for them (0 = never). */
  bookmarkIntervalMs?: number;
  /** A stale watch RV: 'event' sends an ERROR 410 event then ends (what kube-apiserver does); 'http' answers HTTP 410. */
  expiredWatchAs?: 'event' | 'http';
  port?: number;
}

const MICROTIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}(Z|[+-]\d{2}:\d{2})$/;

const clone = <T>(o: T): T => (o === undefined ? o : JSON.parse(JSON.stringify(o)));
const nowSeconds = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

export class FakeKube {
  readonly requests: LoggedRequest[] = [];
  /** Every event ever sent to a watcher, for debugging. */
  readonly tokens: Set<string>;
  port = 0;
  private server?: Server;
  private sockets = new Set<Socket>();
  private rv = 1;
  private store = new Map<string, Map<string, any>>();
  private history = new Map<string, HistoryEntry[]>();
  /** Watches from an RV below this get 410 (etcd compaction). */
  private floor = new Map<string, number>();
  private watchers = new Set<Watcher>();
  private failRules: FailRule[] = [];
  private issuerDoc?: { issuer: string; jwks: { keys: object[] } };
  private readonly opts: Required<Omit<FakeKubeOptions, 'tokens' | 'port'>>;

  constructor(opts: FakeKubeOptions = {}) {
    this.tokens = new Set(opts.tokens ?? ['t']);
    this.opts = { validate: opts.validate ?? true, bookmarkIntervalMs: opts.bookmarkIntervalMs ?? 1000, expiredWatchAs: opts.expiredWatchAs ?? 'event' };
    this.port = opts.port ?? 0;
    for (const d of RESOURCES) {
      this.store.set(keyOf(d), new Map());
      this.history.set(keyOf(d), []);
      this.floor.set(keyOf(d), 0);
    }
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  // ---------------------------------------------------------------- lifecycle and fault hooks

  async start(): Promise<this> {
    const server = createServer((req, res) => void this.handle(req, res));
    server.keepAliveTimeout = 30_000;
    server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
    return this;
  }

  /** Stops listening and cuts every connection (watches end abruptly, like a crashed API server). The store survives, as etcd would. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    for (const w of this.watchers) this.dropWatcher(w);
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  async restart(downMs = 0): Promise<void> {
    await this.stop();
    if (downMs) await new Promise((r) => setTimeout(r, downMs));
    await this.start();
  }

  /** Fails the next `count` requests matching `match` with `code` (500 InternalError, 403 Forbidden, 429 TooManyRequests, …). */
  failNext(code: number, count = 1, match?: FailRule['match']): void {
    this.failRules.push({ code, remaining: count, match });
  }

  /** Ends every watch stream cleanly (what the server does at timeoutSeconds); clients re-watch from their last RV. */
  endWatches(plural?: string): void {
    for (const w of [...this.watchers]) if (!plural || w.def.plural === plural) this.dropWatcher(w, true);
  }

  /** Keeps the open watch connections but never writes to them again: a half-open connection. New watches work. */
  freezeWatches(): number {
    let n = 0;
    for (const w of this.watchers) {
      if (w.frozen) continue;
      w.frozen = true;
      for (const t of w.timers) clearTimeout(t);
      n++;
    }
    return n;
  }

  /** Compacts history: a watch from any RV older than now gets 410 Expired and must relist. */
  compact(): void {
    for (const d of RESOURCES) {
      this.floor.set(keyOf(d), this.rv);
      this.history.set(keyOf(d), []);
    }
  }

  /** Compacts, then tells every open watch its RV is gone (ERROR 410) and ends it. */
  expireWatches(): void {
    // Past every RV handed out so far (bookmarks carry the latest one): a client that is between
    // two watches right now reconnects from a stale RV and gets its 410 too, as if it had been open.
    this.rv++;
    this.compact();
    for (const w of [...this.watchers]) {
      if (w.frozen) continue;
      const rv = this.floor.get(keyOf(w.def))!;
      this.write(w, { type: 'ERROR', object: new KubeError(410, 'Expired', `too old resource version: ${rv - 1} (${rv})`).status() });
      this.dropWatcher(w, true);
    }
  }

  watchCount(plural?: string, token?: string): number {
    return [...this.watchers].filter((w) => !w.frozen && (!plural || w.def.plural === plural) && (!token || w.token === token)).length;
  }

  /** Writes a kubeconfig pointing at this server (http needs insecure-skip-tls-verify with client-node). */
  kubeconfig(token = [...this.tokens][0], dir = mkdtempSync(join(tmpdir(), 'fake-kube-'))): string {
    const file = join(dir, `kubeconfig-${token}`);
    const cfg = {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'fake', cluster: { server: this.url, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'u', user: { token } }],
      contexts: [{ name: 'c', context: { cluster: 'fake', user: 'u' } }],
      'current-context': 'c',
    };
    writeFileSync(file, yaml.dump(cfg));
    return file;
  }

  /**
   * Serves ServiceAccount issuer discovery (`/.well-known/openid-configuration`) and the issuer's
   * public keys (`/openid/v1/jwks`), as the API server does; unset, both are 404.
   */
  setIssuer(issuer: string, jwks: { keys: object[] }): void {
    this.issuerDoc = { issuer, jwks: clone(jwks) };
  }

  // ---------------------------------------------------------------- direct access for tests (same semantics as HTTP)

  create(obj: any): any {
    const d = defFor(obj);
    return this.doCreate(d, obj.metadata?.namespace, clone(obj));
  }

  /** Replaces the object; without a resourceVersion in `obj` the current one is used (a test is never stale). */
  update(obj: any, subresource?: 'status'): any {
    const d = defFor(obj);
    const cur = this.get(obj.kind, obj.metadata.namespace, obj.metadata.name, d.group);
    const body = clone(obj);
    body.metadata.resourceVersion ??= cur?.metadata.resourceVersion;
    return this.doUpdate(d, obj.metadata.namespace, obj.metadata.name, body, subresource);
  }

  mergePatch(kind: string, namespace: string | undefined, name: string, patch: any, subresource?: 'status', group?: string): any {
    const d = defByKind(kind, group);
    return this.doPatch(d, namespace, name, 'application/merge-patch+json', JSON.stringify(patch), subresource, {});
  }

  delete(kind: string, namespace: string | undefined, name: string, group?: string): any {
    return this.doDelete(defByKind(kind, group), namespace, name);
  }

  get(kind: string, namespace: string | undefined, name: string, group?: string): any {
    const d = defByKind(kind, group);
    return clone(this.store.get(keyOf(d))!.get(objKey(d, namespace, name)));
  }

  list(kind: string, namespace?: string, group?: string): any[] {
    const d = defByKind(kind, group);
    return [...this.store.get(keyOf(d))!.values()].filter((o) => !namespace || o.metadata.namespace === namespace).map(clone);
  }

  /** events.k8s.io/v1 Events. */
  events(namespace?: string): any[] {
    return this.list('Event', namespace, 'events.k8s.io');
  }

  // ---------------------------------------------------------------- HTTP

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const query = Object.fromEntries(url.searchParams.entries());
    const auth = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const entry: LoggedRequest = {
      time: Date.now(),
      method: req.method ?? 'GET',
      path: url.pathname,
      query,
      verb: '',
      apiGroup: '',
      resource: '',
      code: 0,
      token: auth,
      contentType: req.headers['content-type'],
    };
    const send = (code: number, body: unknown) => {
      entry.code = code;
      this.requests.push(entry);
      if (res.headersSent) return void res.end();
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    try {
      const body = await readBody(req);
      if (!auth || !this.tokens.has(auth)) throw new KubeError(401, 'Unauthorized', 'Unauthorized');
      if (url.pathname === '/.well-known/openid-configuration' || url.pathname === '/openid/v1/jwks') {
        // Non-resource URLs: RBAC names them by path with verb get.
        entry.verb = 'get';
        entry.resource = url.pathname;
        const rule = this.failRules.find(
          (r) => r.remaining > 0 && (!r.match || r.match({ method: entry.method, verb: entry.verb, resource: entry.resource, path: entry.path, query })),
        );
        if (rule) {
          rule.remaining--;
          this.failRules = this.failRules.filter((r) => r.remaining > 0);
          throw new KubeError(rule.code, rule.code === 403 ? 'Forbidden' : 'InternalError', 'injected failure');
        }
        if (req.method !== 'GET') throw new KubeError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
        if (!this.issuerDoc) throw new KubeError(404, 'NotFound', 'the server could not find the requested resource');
        const { issuer, jwks } = this.issuerDoc;
        return send(
          200,
          url.pathname === '/openid/v1/jwks'
            ? jwks
            : {
                issuer,
                jwks_uri: `${issuer.replace(/\/$/, '')}/openid/v1/jwks`,
                response_types_supported: ['id_token'],
                subject_types_supported: ['public'],
                id_token_signing_alg_values_supported: ['RS256'],
              },
        );
      }
      const route = parsePath(url.pathname);
      const watch = query.watch === 'true' || query.watch === '1';
      entry.apiGroup = route.def.group;
      entry.resource = route.def.plural + (route.subresource ? `/${route.subresource}` : '');
      entry.namespace = route.namespace;
      entry.name = route.name;
      entry.verb = verbOf(entry.method, !!route.name, watch);
      const rule = this.failRules.find(
        (r) => r.remaining > 0 && (!r.match || r.match({ method: entry.method, verb: entry.verb, resource: entry.resource, path: entry.path, query })),
      );
      if (rule) {
        rule.remaining--;
        this.failRules = this.failRules.filter((r) => r.remaining > 0);
        const reason = rule.code === 403 ? 'Forbidden' : rule.code === 429 ? 'TooManyRequests' : rule.code === 503 ? 'ServiceUnavailable' : 'InternalError';
        if (rule.code === 429) res.setHeader('retry-after', '1');
        throw new KubeError(rule.code, reason, `injected failure (${reason})`);
      }
      if (route.subresource && !route.def.statusSubresource) throw new KubeError(404, 'NotFound', 'the server could not find the requested resource');
      const ct = (req.headers['content-type'] ?? '').split(';')[0].trim();
      switch (entry.verb) {
        case 'watch':
          this.startWatch(route.def, route.namespace, query, req, res, auth);
          entry.code = 200;
          this.requests.push(entry);
          return;
        case 'list':
          return send(200, this.doList(route.def, route.namespace, query));
        case 'get': {
          const o = this.store.get(keyOf(route.def))!.get(objKey(route.def, route.namespace, route.name!));
          if (!o) throw notFound(route.def, route.name!);
          return send(200, clone(o));
        }
        case 'create':
          if (route.subresource) throw new KubeError(405, 'MethodNotAllowed', 'create is not supported on a subresource');
          return send(201, this.doCreate(route.def, route.namespace, parseJson(body)));
        case 'update': {
          const o = parseJson(body);
          return send(200, this.doUpdate(route.def, route.namespace, route.name!, o, route.subresource));
        }
        case 'patch':
          return send(200, this.doPatch(route.def, route.namespace, route.name!, ct, body, route.subresource, query));
        case 'delete':
          return send(200, this.doDelete(route.def, route.namespace, route.name!));
        default:
          throw new KubeError(405, 'MethodNotAllowed', `${entry.method} is not supported`);
      }
    } catch (err) {
      const ke = err instanceof KubeError ? err : new KubeError(500, 'InternalError', String((err as Error)?.stack ?? err));
      send(ke.code, ke.status());
    }
  }

  // ---------------------------------------------------------------- list and watch

  private doList(d: ResourceDef, namespace: string | undefined, q: Record<string, string>): any {
    const label = q.labelSelector ? parseSelector(q.labelSelector) : undefined;
    const field = q.fieldSelector ? parseSelector(q.fieldSelector, fieldGetter(d)) : undefined;
    let items = [...this.store.get(keyOf(d))!.values()]
      .filter((o) => this.matches(d, o, namespace, label, field))
      .sort((a, b) => objKey(d, a.metadata.namespace, a.metadata.name).localeCompare(objKey(d, b.metadata.namespace, b.metadata.name)));
    let listRV = this.rv;
    let cont: string | undefined;
    if (q.continue) {
      let token: { rv: number; after: string };
      try {
        token = JSON.parse(Buffer.from(q.continue, 'base64').toString('utf8'));
      } catch {
        throw new KubeError(400, 'BadRequest', 'continue key is not valid');
      }
      if (token.rv < this.floor.get(keyOf(d))!)
        throw new KubeError(
          410,
          'Expired',
          'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.',
        );
      listRV = token.rv;
      items = items.filter((o) => objKey(d, o.metadata.namespace, o.metadata.name) > token.after);
    }
    const limit = Number(q.limit ?? 0);
    if (limit > 0 && items.length > limit) {
      items = items.slice(0, limit);
      const last = items[items.length - 1];
      cont = Buffer.from(JSON.stringify({ rv: listRV, after: objKey(d, last.metadata.namespace, last.metadata.name) })).toString('base64');
    }
    return {
      apiVersion: d.group ? `${d.group}/${d.version}` : d.version,
      kind: `${d.kind}List`,
      metadata: { resourceVersion: String(listRV), ...(cont ? { continue: cont } : {}) },
      // Built-in list items omit apiVersion/kind; custom resources carry them.
      items: items.map((o) => {
        const c = clone(o);
        if (!d.custom) {
          delete c.apiVersion;
          delete c.kind;
        }
        return c;
      }),
    };
  }

  private startWatch(
    d: ResourceDef,
    namespace: string | undefined,
    q: Record<string, string>,
    req: IncomingMessage,
    res: ServerResponse,
    token?: string,
  ): void {
    const label = q.labelSelector ? parseSelector(q.labelSelector) : undefined;
    const field = q.fieldSelector ? parseSelector(q.fieldSelector, fieldGetter(d)) : undefined;
    const from = q.resourceVersion;
    const key = keyOf(d);
    if (from && from !== '0' && Number(from) < this.floor.get(key)! && this.opts.expiredWatchAs === 'http') {
      throw new KubeError(410, 'Expired', `too old resource version: ${from} (${this.floor.get(key)})`);
    }
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked', 'cache-control': 'no-cache, private' });
    res.flushHeaders();
    const w: Watcher = { def: d, namespace, label, field, bookmarks: q.allowWatchBookmarks === 'true', res, frozen: false, timers: [], token };
    if (from && from !== '0' && Number(from) < this.floor.get(key)!) {
      this.write(w, { type: 'ERROR', object: new KubeError(410, 'Expired', `too old resource version: ${from} (${this.floor.get(key)})`).status() });
      res.end();
      return;
    }
    this.watchers.add(w);
    req.socket.setNoDelay(true);
    res.on('close', () => this.dropWatcher(w));
    if (!from || from === '0') {
      for (const o of this.store.get(key)!.values()) if (this.matches(d, o, namespace, label, field)) this.write(w, { type: 'ADDED', object: withKind(d, o) });
    } else {
      for (const h of this.history.get(key)!) if (h.rv > Number(from)) this.deliver(w, h);
    }
    const timeout = Number(q.timeoutSeconds ?? 1800);
    if (timeout > 0) w.timers.push(setTimeout(() => this.dropWatcher(w, true), timeout * 1000));
    if (w.bookmarks && this.opts.bookmarkIntervalMs > 0) {
      const tick = () => {
        this.write(w, { type: 'BOOKMARK', object: { apiVersion: apiVersionOf(d), kind: d.kind, metadata: { resourceVersion: String(this.rv) } } });
        w.timers.push(setTimeout(tick, this.opts.bookmarkIntervalMs));
      };
      w.timers.push(setTimeout(tick, this.opts.bookmarkIntervalMs));
    }
  }

  private dropWatcher(w: Watcher, clean = false): void {
    for (const t of w.timers) clearTimeout(t);
    w.timers = [];
    if (!this.watchers.delete(w)) return;
    if (clean) w.res.end();
    else w.res.destroy();
  }

  private write(w: Watcher, ev: WatchEvent): void {
    if (w.frozen || w.res.writableEnded || w.res.destroyed) return;
    w.res.write(JSON.stringify(ev) + '\n');
  }

  private deliver(w: Watcher, h: HistoryEntry): void {
    if (w.frozen) return;
    const now = this.matches(w.def, h.obj, w.namespace, w.label, w.field);
    const before = h.prev ? this.matches(w.def, h.prev, w.namespace, w.label, w.field) : false;
    let type: WatchEvent['type'] | undefined;
    if (h.type === 'ADDED') type = now ? 'ADDED' : undefined;
    else if (h.type === 'DELETED') type = before ? 'DELETED' : undefined;
    else type = before && now ? 'MODIFIED' : now ? 'ADDED' : before ? 'DELETED' : undefined;
    if (type) this.write(w, { type, object: withKind(w.def, h.obj) });
  }

  private record(d: ResourceDef, type: HistoryEntry['type'], obj: any, prev?: any): void {
    const h: HistoryEntry = { rv: Number(obj.metadata.resourceVersion), type, obj: clone(obj), prev: clone(prev) };
    this.history.get(keyOf(d))!.push(h);
    for (const w of this.watchers) if (w.def === d) this.deliver(w, h);
  }

  private matches(d: ResourceDef, o: any, namespace?: string, label?: Selector, field?: Selector): boolean {
    if (namespace && o.metadata.namespace !== namespace) return false;
    if (label && !label(o.metadata.labels ?? {}, o)) return false;
    if (field && !field({}, o)) return false;
    void d;
    return true;
  }

  // ---------------------------------------------------------------- writes

  private doCreate(d: ResourceDef, namespace: string | undefined, o: any): any {
    if (!o || typeof o !== 'object') throw new KubeError(400, 'BadRequest', 'the body must be an object');
    checkKind(d, o);
    o.metadata ??= {};
    if (d.namespaced) {
      if (o.metadata.namespace && namespace && o.metadata.namespace !== namespace)
        throw new KubeError(400, 'BadRequest', 'the namespace of the provided object does not match the namespace sent on the request');
      o.metadata.namespace = namespace ?? o.metadata.namespace ?? 'default';
    }
    if (!o.metadata.name) {
      if (!o.metadata.generateName) throw invalid(d, '', 'metadata.name: Required value: name or generateName is required');
      o.metadata.name = o.metadata.generateName + randomUUID().replace(/-/g, '').slice(0, 5);
    }
    const store = this.store.get(keyOf(d))!;
    const k = objKey(d, o.metadata.namespace, o.metadata.name);
    if (store.has(k))
      throw new KubeError(409, 'AlreadyExists', `${resourceName(d)} "${o.metadata.name}" already exists`, {
        name: o.metadata.name,
        group: d.group,
        kind: d.plural,
      });
    if (d.statusSubresource) delete o.status;
    this.normalize(d, o, undefined);
    o.metadata.uid = randomUUID();
    o.metadata.creationTimestamp = nowSeconds();
    if (d.custom) o.metadata.generation = 1;
    delete o.metadata.deletionTimestamp;
    o.metadata.resourceVersion = String(++this.rv);
    store.set(k, o);
    this.record(d, 'ADDED', o);
    return withKind(d, o);
  }

  private doUpdate(d: ResourceDef, namespace: string | undefined, name: string, o: any, subresource?: string): any {
    if (!o || typeof o !== 'object') throw new KubeError(400, 'BadRequest', 'the body must be an object');
    checkKind(d, o);
    const store = this.store.get(keyOf(d))!;
    const cur = store.get(objKey(d, namespace, name));
    if (!cur) throw notFound(d, name);
    if (o.metadata?.name && o.metadata.name !== name) throw new KubeError(400, 'BadRequest', 'the name of the object does not match the name on the URL');
    const rv = o.metadata?.resourceVersion;
    if (!rv && (d.custom || d.plural === 'leases')) throw invalid(d, name, 'metadata.resourceVersion: Invalid value: 0x0: must be specified for an update');
    if (rv && rv !== cur.metadata.resourceVersion) throw conflict(d, name);
    return this.commit(d, cur, o, subresource);
  }

  private doPatch(
    d: ResourceDef,
    namespace: string | undefined,
    name: string,
    contentType: string,
    body: string,
    subresource: string | undefined,
    q: Record<string, string>,
  ): any {
    const store = this.store.get(keyOf(d))!;
    const cur = store.get(objKey(d, namespace, name));
    if (!cur) throw notFound(d, name);
    let next: any;
    switch (contentType) {
      case 'application/merge-patch+json': {
        const p = parseJson(body);
        if (p?.metadata?.resourceVersion && p.metadata.resourceVersion !== cur.metadata.resourceVersion) throw conflict(d, name);
        next = mergePatch(clone(cur), p);
        break;
      }
      case 'application/json-patch+json': {
        const ops = parseJson(body);
        if (!Array.isArray(ops)) throw new KubeError(400, 'BadRequest', 'json patch must be an array of operations');
        try {
          next = applyPatch(clone(cur), ops as Operation[], true, false).newDocument;
        } catch (err) {
          throw new KubeError(422, 'Invalid', `the json patch could not be applied: ${(err as Error).message.split('\n')[0]}`);
        }
        break;
      }
      case 'application/strategic-merge-patch+json':
        if (d.custom)
          throw new KubeError(
            415,
            'UnsupportedMediaType',
            'the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml',
          );
        next = mergePatch(clone(cur), parseJson(body));
        break;
      case 'application/apply-patch+yaml': {
        if (!q.fieldManager) throw new KubeError(400, 'BadRequest', 'PATCH requests of type apply-patch+yaml must have fieldManager');
        // Approximated as a merge: field ownership and conflicts are not modelled.
        next = mergePatch(clone(cur), yaml.load(body));
        break;
      }
      default:
        throw new KubeError(
          415,
          'UnsupportedMediaType',
          `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml`,
        );
    }
    next.metadata.resourceVersion = cur.metadata.resourceVersion;
    return this.commit(d, cur, next, subresource);
  }

  /** Applies an update to `cur` with the real server's rules for subresources, generation and no-ops. */
  private commit(d: ResourceDef, cur: any, incoming: any, subresource?: string): any {
    let next: any;
    if (subresource === 'status') {
      // /status writes change nothing but status (labels and spec edits are silently dropped).
      next = clone(cur);
      if (incoming.status === undefined) delete next.status;
      else next.status = clone(incoming.status);
      if (d.custom && this.opts.validate) {
        const errors = validateObject(d.kind as 'ModelRoute' | 'ApiKey', clone(next));
        if (errors.length) throw invalid(d, cur.metadata.name, errors.join(', '));
      }
    } else {
      next = clone(incoming);
      next.metadata ??= {};
      next.apiVersion ??= cur.apiVersion;
      next.kind ??= cur.kind;
      // Server-owned metadata can't be changed by a client.
      for (const f of ['uid', 'creationTimestamp', 'generation', 'deletionTimestamp', 'namespace', 'name']) {
        if (cur.metadata[f] === undefined) delete next.metadata[f];
        else next.metadata[f] = cur.metadata[f];
      }
      if (d.statusSubresource) {
        if (cur.status === undefined) delete next.status;
        else next.status = clone(cur.status);
      }
      this.normalize(d, next, cur);
    }
    next.metadata.resourceVersion = cur.metadata.resourceVersion;
    if (d.custom && specOf(next) !== specOf(cur)) next.metadata.generation = (cur.metadata.generation ?? 1) + 1;
    const store = this.store.get(keyOf(d))!;
    const k = objKey(d, cur.metadata.namespace, cur.metadata.name);
    if (cur.metadata.deletionTimestamp && !(next.metadata.finalizers ?? []).length) {
      store.delete(k);
      next.metadata.resourceVersion = String(++this.rv);
      this.record(d, 'DELETED', next, cur);
      return withKind(d, next);
    }
    if (JSON.stringify(next) === JSON.stringify(cur)) return withKind(d, cur); // a no-op write keeps the RV and sends no event
    next.metadata.resourceVersion = String(++this.rv);
    store.set(k, next);
    this.record(d, 'MODIFIED', next, cur);
    return withKind(d, next);
  }

  private doDelete(d: ResourceDef, namespace: string | undefined, name: string): any {
    const store = this.store.get(keyOf(d))!;
    const k = objKey(d, namespace, name);
    const cur = store.get(k);
    if (!cur) throw notFound(d, name);
    if ((cur.metadata.finalizers ?? []).length) {
      if (cur.metadata.deletionTimestamp) return withKind(d, cur);
      const next = clone(cur);
      next.metadata.deletionTimestamp = nowSeconds();
      if (d.custom) next.metadata.generation = (cur.metadata.generation ?? 1) + 1;
      next.metadata.resourceVersion = String(++this.rv);
      store.set(k, next);
      this.record(d, 'MODIFIED', next, cur);
      return withKind(d, next);
    }
    store.delete(k);
    const last = clone(cur);
    last.metadata.resourceVersion = String(++this.rv);
    this.record(d, 'DELETED', last, cur);
    return withKind(d, last);
  }

  /** Per-type defaulting and validation a real server does on every write. */
  private normalize(d: ResourceDef, o: any, cur: any): void {
    if (d.plural === 'secrets' && !d.group) {
      if (o.stringData) {
        o.data = { ...(o.data ?? {}) };
        for (const [k, v] of Object.entries(o.stringData)) o.data[k] = Buffer.from(String(v), 'utf8').toString('base64');
        delete o.stringData;
      }
      for (const [k, v] of Object.entries(o.data ?? {})) {
        if (typeof v !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(v))
          throw new KubeError(400, 'BadRequest', `Secret in version "v1" cannot be handled as a Secret: illegal base64 data at key ${k}`);
      }
      o.type ??= cur?.type ?? 'Opaque';
      if (cur && o.type !== cur.type) throw invalid(d, o.metadata.name, 'type: Invalid value: field is immutable');
    }
    if (d.plural === 'leases') {
      for (const f of ['acquireTime', 'renewTime']) {
        const v = o.spec?.[f];
        if (v !== undefined && v !== null && !MICROTIME.test(v))
          throw new KubeError(
            400,
            'BadRequest',
            `Lease in version "v1" cannot be handled as a Lease: parsing time "${v}" as "2006-01-02T15:04:05.000000Z07:00": cannot parse`,
          );
      }
    }
    if (d.group === 'events.k8s.io') {
      if (!MICROTIME.test(o.eventTime ?? ''))
        throw new KubeError(
          400,
          'BadRequest',
          `Event in version "v1" cannot be handled as a Event: parsing time "${o.eventTime}" as "2006-01-02T15:04:05.000000Z07:00": cannot parse`,
        );
      const missing = ['reportingController', 'reportingInstance', 'action', 'reason'].filter((f) => !o[f]);
      if (!['Normal', 'Warning'].includes(o.type)) missing.push('type');
      if (missing.length) throw invalid(d, o.metadata.name, missing.map((f) => `${f}: Required value`).join(', '));
      if ((o.note ?? '').length > 1024) throw invalid(d, o.metadata.name, 'note: Too long: may not be longer than 1024');
    }
    if (d.custom && this.opts.validate) {
      const errors = validateObject(d.kind as 'ModelRoute' | 'ApiKey', o);
      if (errors.length) throw invalid(d, o.metadata.name, errors.join(', '));
    }
  }
}

// -------------------------------------------------------------------- helpers

type Selector = (labels: Record<string, string>, obj: any) => boolean;

function keyOf(d: ResourceDef): string {
  return `${d.group}/${d.plural}`;
}

function objKey(d: ResourceDef, namespace: string | undefined, name: string): string {
  return d.namespaced ? `${namespace ?? 'default'}/${name}` : name;
}

function apiVersionOf(d: ResourceDef): string {
  return d.group ? `${d.group}/${d.version}` : d.version;
}

function withKind(d: ResourceDef, o: any): any {
  return { apiVersion: apiVersionOf(d), kind: d.kind, ...clone(o) };
}

function resourceName(d: ResourceDef): string {
  return d.group ? `${d.plural}.${d.group}` : d.plural;
}

function defByKind(kind: string, group?: string): ResourceDef {
  const d = RESOURCES.find((r) => r.kind === kind && (group === undefined ? !(kind === 'Event' && r.group) : r.group === group));
  if (!d) throw new Error(`fake-kube: unknown kind ${kind}`);
  return d;
}

function defFor(obj: any): ResourceDef {
  const [group, version] = (obj.apiVersion as string).includes('/') ? obj.apiVersion.split('/') : ['', obj.apiVersion];
  const d = RESOURCES.find((r) => r.kind === obj.kind && r.group === group && r.version === version);
  if (!d) throw new Error(`fake-kube: unknown ${obj.apiVersion} ${obj.kind}`);
  return d;
}

function checkKind(d: ResourceDef, o: any): void {
  if (o.kind && o.kind !== d.kind) throw new KubeError(400, 'BadRequest', `the object provided is unrecognized (must be of type ${d.kind}): kind ${o.kind}`);
  if (o.apiVersion && o.apiVersion !== apiVersionOf(d))
    throw new KubeError(400, 'BadRequest', `the API version in the data (${o.apiVersion}) does not match the expected API version (${apiVersionOf(d)})`);
  o.apiVersion = apiVersionOf(d);
  o.kind = d.kind;
}

function notFound(d: ResourceDef, name: string): KubeError {
  return new KubeError(404, 'NotFound', `${resourceName(d)} "${name}" not found`, { name, group: d.group, kind: d.plural });
}

function conflict(d: ResourceDef, name: string): KubeError {
  return new KubeError(
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${resourceName(d)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
    { name, group: d.group, kind: d.plural },
  );
}

function invalid(d: ResourceDef, name: string, causes: string): KubeError {
  return new KubeError(422, 'Invalid', `${d.kind}${d.group ? '.' + d.group : ''} "${name}" is invalid: ${causes}`, { name, group: d.group, kind: d.kind });
}

/** Everything a spec change is: the object minus metadata and status (what bumps generation). */
function specOf(o: any): string {
  const { metadata: _m, status: _s, ...rest } = o;
  return JSON.stringify(rest);
}

function parsePath(path: string): { def: ResourceDef; namespace?: string; name?: string; subresource?: string } {
  const parts = path.split('/').filter(Boolean);
  let group = '';
  let version: string;
  let rest: string[];
  if (parts[0] === 'api') {
    version = parts[1];
    rest = parts.slice(2);
  } else if (parts[0] === 'apis') {
    group = parts[1];
    version = parts[2];
    rest = parts.slice(3);
  } else throw new KubeError(404, 'NotFound', 'the server could not find the requested resource');
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  const def = RESOURCES.find((r) => r.group === group && r.version === version && r.plural === rest[0]);
  if (!def || rest.length > 3 || (namespace && !def.namespaced)) throw new KubeError(404, 'NotFound', 'the server could not find the requested resource');
  return { def, namespace, name: rest[1], subresource: rest[2] };
}

function verbOf(method: string, hasName: boolean, watch: boolean): string {
  switch (method) {
    case 'GET':
      return watch ? 'watch' : hasName ? 'get' : 'list';
    case 'POST':
      return 'create';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return hasName ? 'delete' : 'deletecollection';
    default:
      return method.toLowerCase();
  }
}

function fieldGetter(d: ResourceDef): (o: any, field: string) => string | undefined {
  return (o, field) => {
    if (field === 'metadata.name') return o.metadata.name;
    if (field === 'metadata.namespace') return o.metadata.namespace;
    const f = d.fields?.[field];
    if (!f)
      throw new KubeError(
        400,
        'BadRequest',
        `"${field}" is not a known field selector: only "metadata.name", "metadata.namespace"${Object.keys(d.fields ?? {})
          .map((k) => `, "${k}"`)
          .join('')}`,
      );
    return f(o);
  };
}

/**
 * Label selector syntax (`k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`, comma = AND),
 * or a field selector when `field` is given (`=`, `==`, `!=`).
 */
export function parseSelector(sel: string, field?: (o: any, f: string) => string | undefined): Selector {
  const terms: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of sel) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      terms.push(cur.trim());
      cur = '';
    } else cur += ch;
  }
  if (cur.trim()) terms.push(cur.trim());
  const preds = terms.map((t): Selector => {
    let m: RegExpExecArray | null;
    const value = (labels: Record<string, string>, obj: any, k: string) => (field ? field(obj, k) : labels[k]);
    if ((m = /^([^!=\s]+)\s*(==|=|!=)\s*(.*)$/.exec(t))) {
      const [, k, op, v] = m;
      if (field) field({ metadata: {} }, k); // unknown field → 400 now, not per object
      return op === '!=' ? (l, o) => value(l, o, k) !== v : (l, o) => value(l, o, k) === v;
    }
    if (field) throw new KubeError(400, 'BadRequest', `invalid field selector: ${t}`);
    if ((m = /^(\S+)\s+(in|notin)\s*\(([^)]*)\)$/.exec(t))) {
      const [, k, op, list] = m;
      const vs = list.split(',').map((s) => s.trim());
      return op === 'in' ? (l) => k in l && vs.includes(l[k]) : (l) => !(k in l) || !vs.includes(l[k]);
    }
    if ((m = /^!(\S+)$/.exec(t))) {
      const k = m[1];
      return (l) => !(k in l);
    }
    if (/^\S+$/.test(t)) return (l) => t in l;
    throw new KubeError(400, 'BadRequest', `unable to parse requirement: ${t}`);
  });
  return (labels, obj) => preds.every((p) => p(labels, obj));
}

/** RFC 7396. */
export function mergePatch(target: any, patch: any): any {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return clone(patch);
  const out = target && typeof target === 'object' && !Array.isArray(target) ? target : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

function parseJson(body: string): any {
  try {
    return JSON.parse(body);
  } catch {
    throw new KubeError(400, 'BadRequest', 'the request body is not valid JSON');
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export async function startFakeKube(opts: FakeKubeOptions = {}): Promise<FakeKube> {
  return new FakeKube(opts).start();
}

/** A MicroTime string as the real server writes it. */
export function microTime(d = new Date()): string {
  return d.toISOString().replace(/Z$/, '000Z');
}

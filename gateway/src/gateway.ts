import { setMaxListeners } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { trafficApp } from './api/app';
import { defaultOptions, type GatewayDeps, type GatewayOptions } from './api/deps';
import { Observers } from './core/observers';
import { adminApp } from './admin/app';
import { CallContext } from './core/call';
import { guardClientErrors } from './api/client-errors';
import { connectionCapFromFdLimit, exhaustionLogger } from './core/fd-limit';
import type { ConfigSnapshot } from './config/snapshot';
import { createLogger, type Logger } from './log';
import { unlimited, type Limiter } from './core/limits';
import { UpstreamPools } from './providers/http';
import { createAdapters } from './providers';
import { CircuitBreakers } from './routing/breaker';
import { RoutingTable } from './routing/table';
import { createRegistry } from './telemetry/registry';
import { ShadowRunner } from './shadow/runner';
import type Router from '@koa/router';
import type Koa from 'koa';

export interface GatewayConfig {
  port?: number;
  adminPort?: number;
  host?: string;
  snapshot?: ConfigSnapshot;
  adminToken?: string;
  options?: Partial<GatewayOptions>;
  /** How long SIGTERM waits for in-flight requests and streams. */
  drainSeconds?: number;
  now?: () => number;
  log?: Logger;
  limiter?: Limiter;
}

/**
 * One gateway: the traffic server, the admin server and the state they share. Nothing lives in
 * module scope, so a test can run several gateways in one process.
 */
export class Gateway {
  readonly observers: Observers;
  readonly registry;
  readonly log: Logger;
  readonly breakers: CircuitBreakers;
  readonly pools: UpstreamPools;
  /** Shadow traffic: runs the shadows of sampled requests and keeps their counts. */
  readonly shadows: ShadowRunner;
  private current?: RoutingTable;
  private draining = false;
  private inflight = 0;
  private idleWaiters: Array<() => void> = [];
  private readonly traffic: Server;
  private readonly admin: Server;
  private readonly configInfo;
  readonly deps: GatewayDeps;
  private adminRoutes?: { router: Router; requireToken: Koa.Middleware };
  private closeHooks: Array<() => Promise<void>> = [];
  /**
   * Aborted when the drain runs out. Every request in flight listens on it (each removes its
   * listener when it ends), so thousands at once are normal: no cap, and no
   * MaxListenersExceededWarning at the 11th.
   */
  private readonly shutdown = (() => {
    const ac = new AbortController();
    setMaxListeners(0, ac.signal);
    return ac;
  })();
  private connections = 0;
  private readonly overCap = new WeakSet<Socket>();

  constructor(private readonly cfg: GatewayConfig = {}) {
    this.log = cfg.log ?? createLogger('gateway');
    this.observers = new Observers((err) => this.log.error('observer failed', { err: String(err) }));
    const { registry, configInfo } = createRegistry();
    this.registry = registry;
    this.configInfo = configInfo;
    const options = { ...defaultOptions, ...cfg.options };
    this.pools = new UpstreamPools({ maxEventBytes: options.maxEventBytes, maxResponseBytes: options.maxUpstreamBodyBytes });
    const adapter = createAdapters(this.pools);
    this.breakers = new CircuitBreakers(options.breakerThreshold, options.breakerCooldownMs);
    this.shadows = new ShadowRunner({ adapter, log: this.log, now: cfg.now ?? Date.now });
    this.deps = {
      table: () => this.current,
      adapter,
      limiter: cfg.limiter ?? unlimited,
      observers: this.observers,
      breakers: this.breakers,
      options,
      now: cfg.now ?? Date.now,
      log: this.log,
      shutdown: this.shutdown.signal,
      overCapacity: (socket) => this.overCap.has(socket),
      shadows: this.shadows,
      reportFdExhaustion: exhaustionLogger(this.log),
    };
    // Node checks headersTimeout only every connectionsCheckingInterval (30 s by default), which
    // would let a slowloris client hold a connection for half a minute more than configured.
    this.traffic = createServer({ connectionsCheckingInterval: Math.min(5000, Math.max(50, options.headersTimeoutMs / 4)) }, trafficApp(this.deps).callback());
    // Node's defaults would cut long streams (requestTimeout 300 s); the body reader has its own idle and total deadlines.
    this.traffic.requestTimeout = 0;
    this.traffic.headersTimeout = options.headersTimeoutMs;
    this.traffic.keepAliveTimeout = 65_000;
    const cap = options.maxConnections === undefined ? connectionCapFromFdLimit() : options.maxConnections || Infinity;
    this.traffic.on('connection', (socket: Socket) => {
      if (++this.connections > cap) this.overCap.add(socket);
      socket.on('close', () => this.connections--);
    });
    // One close listener shared by every response, not a closure per request.
    const responseClosed = () => {
      this.inflight--;
      if (this.inflight === 0) for (const w of this.idleWaiters.splice(0)) w();
    };
    this.traffic.on('request', (_req, res) => {
      this.inflight++;
      res.on('close', responseClosed);
    });
    guardClientErrors(this.traffic, (status, type, message) => {
      // Malformed HTTP never reaches Koa; it is reported like any request so metrics and the access log count it.
      const call = new CallContext(this.deps.now());
      call.status = status;
      call.errorType = type;
      call.errorMessage = message;
      this.observers.requestStart(call);
      call.endedAt = performance.now();
      this.observers.requestEnd(call);
      return call.requestId;
    });
    this.admin = createServer(
      adminApp({
        token: cfg.adminToken,
        registry,
        table: () => this.current,
        apply: (s) => this.apply(s),
        ready: () => !!this.current && !this.draining,
        extend: (router, requireToken) => (this.adminRoutes = { router, requireToken }),
      }).callback(),
    );
    if (cfg.snapshot) this.apply(cfg.snapshot);
  }

  /**
   * Registers admin routes (the router matches against its routes at request time, so this works
   * before or after start()); `requireToken` is the admin bearer-token check of /admin/*.
   */
  extendAdmin(f: (r: Router, requireToken: Koa.Middleware) => void): void {
    f(this.adminRoutes!.router, this.adminRoutes!.requireToken);
  }

  /** Runs after the servers have closed (features flush here: e.g. spans still queued for export). */
  onClose(f: () => Promise<void>): void {
    this.closeHooks.push(f);
  }

  setLimiter(l: Limiter): void {
    this.deps.limiter = l;
  }

  /**
   * Swaps the routing table atomically: requests in flight keep the table they started with.
   * Equal versions and older serials are no-ops, so a slow, stale push cannot undo a newer one.
   */
  apply(s: ConfigSnapshot): { applied: boolean; version: string } {
    const cur = this.current;
    if (cur && (s.version === cur.version || s.serial < cur.serial)) return { applied: false, version: cur.version };
    const table = new RoutingTable(s);
    this.current = table;
    this.configInfo.reset();
    this.configInfo.set({ version: s.version }, 1);
    for (const l of this.applyListeners) l(s, table);
    this.log.info('configuration applied', { version: s.version, routes: s.routes.length, keys: s.keys.length });
    return { applied: true, version: s.version };
  }

  private applyListeners: Array<(s: ConfigSnapshot, t: RoutingTable) => void> = [];
  onApply(l: (s: ConfigSnapshot, t: RoutingTable) => void): void {
    this.applyListeners.push(l);
    if (this.current) l(this.current.snapshot, this.current);
  }

  get table(): RoutingTable | undefined {
    return this.current;
  }

  get inflightRequests(): number {
    return this.inflight;
  }

  async start(): Promise<this> {
    const host = this.cfg.host ?? '0.0.0.0';
    await listen(this.traffic, this.cfg.port ?? 8080, host);
    // After listening, the server's errors are accept failures (EMFILE/ENFILE when libuv cannot
    // shed the connection itself); without a listener they would crash the process.
    this.traffic.on('error', (err: NodeJS.ErrnoException) => this.deps.reportFdExhaustion('accepting a connection failed', { err: err.code ?? err.message }));
    try {
      await listen(this.admin, this.cfg.adminPort ?? 9090, host);
      this.admin.on('error', (err: NodeJS.ErrnoException) =>
        this.deps.reportFdExhaustion('accepting an admin connection failed', { err: err.code ?? err.message }),
      );
    } catch (err) {
      // Half a gateway (traffic without probes or config push) must not linger: undo and fail.
      await this.close();
      throw err;
    }
    return this;
  }

  get trafficPort(): number {
    return (this.traffic.address() as AddressInfo).port;
  }

  get adminPort(): number {
    return (this.admin.address() as AddressInfo).port;
  }

  /**
   * Graceful shutdown: turn not-ready, stop accepting, let in-flight requests and streams finish
   * (up to the drain timeout), then close everything.
   */
  async drain(timeoutMs = (this.cfg.drainSeconds ?? 30) * 1000): Promise<{ forced: number; shadowsAborted: number }> {
    this.draining = true;
    // Shadows have the same drain time as requests (none start from here on), then are cut and recorded.
    const shadowsDrained = this.shadows.drain(performance.now() + timeoutMs);
    this.traffic.close();
    this.traffic.closeIdleConnections();
    const sweep = setInterval(() => this.traffic.closeIdleConnections(), 250);
    const outcome = await this.idleWithin(timeoutMs);
    const forced = outcome === 'timeout' ? this.inflight : 0;
    if (forced > 0) {
      // Streams get an `overloaded_error` event and upstream waits a 503, which clients retry
      // elsewhere; the grace lets those last bytes reach the socket before it is closed.
      this.shutdown.abort();
      await this.idleWithin(2000);
    }
    clearInterval(sweep);
    const shadowsAborted = await shadowsDrained;
    await this.close();
    return { forced, shadowsAborted };
  }

  private async idleWithin(ms: number): Promise<'idle' | 'timeout'> {
    const idle = new Promise<'idle'>((resolve) => (this.inflight === 0 ? resolve('idle') : this.idleWaiters.push(() => resolve('idle'))));
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms)));
    const outcome = await Promise.race([idle, timedOut]);
    clearTimeout(timer);
    return outcome;
  }

  async close(): Promise<void> {
    this.draining = true;
    this.traffic.closeAllConnections();
    this.admin.closeAllConnections();
    await Promise.all([closeServer(this.traffic), closeServer(this.admin)]);
    await this.shadows.abortAll();
    await this.pools.close();
    const hooks = this.closeHooks.splice(0);
    await Promise.all(hooks.map((f) => f().catch((err) => this.log.error('close hook failed', { err: String(err) }))));
  }
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => (server.listening ? server.close(() => resolve()) : resolve()));
}

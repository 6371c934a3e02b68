import { createHash, timingSafeEqual } from 'node:crypto';
import Koa from 'koa';
import Router from '@koa/router';
import type { Registry } from 'prom-client';
import { parseJsonObject, readBody } from '../api/body';
import { GatewayError, envelope } from '../core/errors';
import { snapshotError } from '../config/schema';
import type { ConfigSnapshot } from '../config/snapshot';
import type { RoutingTable } from '../core/routes';

export interface AdminDeps {
  /** Bearer token for /admin/*; unset disables the config endpoints. */
  token?: string;
  registry: Registry;
  table(): RoutingTable | undefined;
  apply(snapshot: ConfigSnapshot): { applied: boolean; version: string };
  ready(): boolean;
  /** Extra admin routes added by later features (e.g. usage read-out); `requireToken` guards /admin/* routes. */
  extend?(router: Router, requireToken: Koa.Middleware): void;
}

/** The admin port: probes, metrics and the operator's config push. Never exposed to clients. */
export function adminApp(deps: AdminDeps): Koa {
  const app = new Koa();
  app.silent = true;
  const router = new Router();
  const tokenDigest = deps.token ? createHash('sha256').update(deps.token).digest() : undefined;

  const requireToken: Koa.Middleware = async (ctx, next) => {
    if (!tokenDigest) throw new GatewayError(403, 'permission_error', 'admin API is disabled: set SWITCHYARD_ADMIN_TOKEN');
    const m = /^Bearer\s+(\S+)$/i.exec(ctx.get('authorization'));
    const presented = createHash('sha256')
      .update(m?.[1] ?? '')
      .digest();
    if (!m || !timingSafeEqual(presented, tokenDigest)) throw new GatewayError(401, 'authentication_error', 'invalid admin token');
    await next();
  };

  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  router.get('/readyz', (ctx) => {
    const table = deps.table();
    const ready = deps.ready();
    ctx.status = ready ? 200 : 503;
    ctx.body = { ready, version: table?.version ?? null };
  });
  router.get('/metrics', async (ctx) => {
    ctx.type = deps.registry.contentType;
    ctx.body = await deps.registry.metrics();
  });
  router.put('/admin/config', requireToken, async (ctx) => {
    const raw = await readBody(ctx.req, { maxBytes: 64 * 1024 * 1024, idleTimeoutMs: 30_000, totalTimeoutMs: 120_000 });
    const body = parseJsonObject(raw, ctx.get('content-type') || undefined);
    const problem = snapshotError(body);
    if (problem) throw new GatewayError(400, 'invalid_request_error', `invalid snapshot: ${problem}`);
    const result = deps.apply(body as unknown as ConfigSnapshot);
    ctx.body = result;
  });
  router.get('/admin/config', requireToken, (ctx) => {
    const table = deps.table();
    if (!table) {
      ctx.status = 404;
      ctx.body = envelope('not_found_error', 'no configuration loaded yet', null);
      return;
    }
    ctx.body = summary(table.snapshot);
  });
  deps.extend?.(router, requireToken);

  app.use(async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      const ge = err instanceof GatewayError ? err : new GatewayError(500, 'api_error', 'internal error');
      ctx.status = ge.status;
      ctx.set(ge.headers);
      ctx.body = envelope(ge.type, ge.message, null);
    }
  });
  app.use(router.routes()).use(router.allowedMethods());
  return app;
}

/** The snapshot without anything secret: no upstream keys, no key digests. */
export function summary(s: ConfigSnapshot) {
  return {
    version: s.version,
    serial: s.serial,
    generatedAt: s.generatedAt,
    gateways: s.gateways ?? 1,
    routes: s.routes.map((r) => ({
      name: r.name,
      model: r.model,
      aliases: r.aliases,
      retry: r.retry,
      limits: r.limits,
      pricing: r.pricing,
      targets: r.targets.map((t) => ({
        provider: t.provider,
        model: t.model,
        baseURL: withoutCredentials(t.baseURL),
        weight: t.weight,
        priority: t.priority,
        hasCredentials: !!t.apiKey,
      })),
      ...(r.shadows && {
        shadows: r.shadows.map((s) => ({
          name: s.name,
          provider: s.target.provider,
          model: s.target.model,
          baseURL: withoutCredentials(s.target.baseURL),
          hasCredentials: !!s.target.apiKey,
          percent: s.percent,
          sampleBy: s.sampleBy,
          timeoutSeconds: s.timeoutSeconds,
          maxConcurrent: s.maxConcurrent,
          revision: s.revision,
        })),
      }),
    })),
    keys: s.keys.map((k) => ({
      name: k.name,
      serviceAccounts: k.serviceAccounts,
      allowedModels: k.allowedModels,
      limits: k.limits,
      disabled: !!k.disabled,
      expiresAt: k.expiresAt,
      budget: k.budget,
    })),
  };
}

/** A base URL as shown to operators: any user:password@ part removed. */
function withoutCredentials(url: string): string {
  try {
    const u = new URL(url);
    if (!u.username && !u.password) return url;
    u.username = '';
    u.password = '';
    return u.toString();
  } catch {
    return '(invalid url)';
  }
}

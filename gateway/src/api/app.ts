import Koa from 'koa';
import Router from '@koa/router';
import type { GatewayDeps } from './deps';
import { authenticate } from './auth';
import { errorEnvelope, requestContext } from './context';
import { GatewayError } from '../core/errors';
import { messagesHandler } from './messages';
import { getModel, listModels } from './models';
import { FinishQueueKoa } from './finish-queue';

/** The traffic port: the Messages API surface, composed in one place. */
export function trafficApp(deps: GatewayDeps): Koa {
  const app = new FinishQueueKoa();
  app.silent = true;
  const auth = authenticate(deps);
  const router = new Router();
  const probe: Koa.Middleware = async (ctx) => {
    ctx.state.call.endpoint = 'probe';
    ctx.body = { ok: true, service: 'switchyard' };
  };
  router.head('/', probe).get('/', probe);
  router.post('/v1/messages', auth, messagesHandler(deps, 'messages'));
  router.post('/v1/messages/count_tokens', auth, messagesHandler(deps, 'count_tokens'));
  router.get('/v1/models', auth, listModels);
  router.get('/v1/models/:id', auth, getModel);

  app.use(requestContext(deps));
  app.use(errorEnvelope(deps));
  app.use(async (ctx, next) => {
    if (deps.overCapacity(ctx.req.socket)) {
      deps.reportFdExhaustion('connection refused: the gateway is at its connection cap', { request_id: ctx.state.call.requestId });
      throw new GatewayError(503, 'overloaded_error', 'the gateway has too many open connections; retry shortly', { connection: 'close', 'retry-after': '1' });
    }
    await next();
    // respond = false: the handler answered on the socket itself, or nobody is listening any more.
    if (ctx.status === 404 && ctx.body === undefined && ctx.respond !== false)
      throw new GatewayError(404, 'not_found_error', `no endpoint ${ctx.method} ${ctx.path}`);
  });
  app.use(router.routes());
  app.use(
    router.allowedMethods({
      throw: true,
      methodNotAllowed: () => new GatewayError(405, 'invalid_request_error', 'method not allowed for this endpoint'),
      notImplemented: () => new GatewayError(501, 'api_error', 'method not implemented'),
    }),
  );
  return app;
}

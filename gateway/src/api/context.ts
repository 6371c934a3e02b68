import type Koa from 'koa';
import { CallContext } from '../core/call';
import type { GatewayDeps } from './deps';
import { GatewayError, envelope } from '../core/errors';
import { setHeader } from './set-headers';

/**
 * First in the chain: gives the request its id and CallContext, and calls the end-of-request
 * hooks exactly once, when the response is fully sent or the client has gone.
 */
export function requestContext(deps: GatewayDeps): Koa.Middleware {
  return async (ctx, next) => {
    const call = new CallContext(deps.now());
    ctx.state.call = call;
    setHeader(ctx.res, 'request-id', call.requestId);
    call.http = { method: ctx.method, path: ctx.path, headers: ctx.req.headers };
    deps.observers.requestStart(call);
    let handled = false;
    let ended = false;
    let safety: NodeJS.Timeout | undefined;
    const end = () => {
      if (ended) return;
      ended = true;
      clearTimeout(safety);
      const admission = call.admission;
      try {
        admission?.release(call);
      } catch (err) {
        deps.log.error('limit release failed', { err: String(err), request_id: call.requestId });
      }
      deps.observers.requestEnd(call);
    };
    // A response sent before the body was read (401, 404…) leaves Node reading and discarding the
    // rest with no deadline of its own (requestTimeout is off for streams): a trickling client
    // would hold the connection for ever. The body deadline applies here too.
    ctx.res.on('finish', () => {
      if (ctx.req.complete || deps.options.bodyTimeoutMs <= 0) return;
      const left = Math.max(0, deps.options.bodyTimeoutMs - (performance.now() - call.startedAt));
      const timer = setTimeout(() => ctx.req.socket.destroy(), left).unref();
      ctx.req.once('end', () => clearTimeout(timer));
      ctx.req.socket.on('close', () => clearTimeout(timer));
    });
    // `on`, not `once`: these events fire once anyway, and a `once` wrapper is three more objects
    // per listener held for the response's life (thousands of live streams hold thousands).
    ctx.res.on('close', () => {
      call.endedAt = performance.now();
      if (!ctx.res.writableFinished && !call.cutByGateway && !call.clientStalled) call.clientAborted = true;
      call.status = call.clientAborted && !ctx.res.headersSent ? 499 : ctx.res.statusCode;
      // A client that leaves mid-request closes the response before the handler has unwound: the
      // upstream attempt it aborted is recorded on the way out, and the record must include it.
      if (handled) end();
      else safety = setTimeout(end, 10_000).unref();
      call.responseWatcher?.responseClosed(ctx.res.writableFinished);
    });
    try {
      await next();
    } finally {
      handled = true;
      if (call.endedAt !== undefined) end();
    }
  };
}

/** Renders every error as Anthropic's envelope; unexpected ones become a 500 without internals. */
export function errorEnvelope(deps: GatewayDeps): Koa.Middleware {
  return async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      const call: CallContext = ctx.state.call;
      let ge: GatewayError;
      if (err instanceof GatewayError) ge = err;
      else {
        deps.log.error('unhandled error', { request_id: call.requestId, err: (err as Error)?.stack ?? String(err) });
        ge = new GatewayError(500, 'api_error', 'internal gateway error');
      }
      call.errorType = ge.type;
      call.errorMessage = ge.message;
      ctx.status = ge.status;
      ctx.set(ge.headers);
      ctx.body = envelope(ge.type, ge.message, call.requestId);
    }
  };
}

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
    const life = new RequestLife(ctx, call, deps);
    // `on`, not `once`: the event fires once anyway, and a `once` wrapper is three more objects
    // per listener held for the response's life (thousands of live streams hold thousands).
    ctx.res.on('close', life.onClose);
    try {
      await next();
    } finally {
      life.handled = true;
      if (call.endedAt !== undefined) life.end();
    }
  };
}

/**
 * One request's end: an object with one listener rather than a closure per listener and per
 * step (and the context they share), made for every request.
 */
class RequestLife {
  handled = false;
  private ended = false;
  private safety: NodeJS.Timeout | undefined;

  constructor(
    private readonly ctx: Koa.Context,
    private readonly call: CallContext,
    private readonly deps: GatewayDeps,
  ) {}

  readonly onClose = (): void => {
    const { ctx, call } = this;
    const res = ctx.res;
    call.endedAt = performance.now();
    // A response sent before the body was read (401, 404…) leaves Node reading and discarding the
    // rest with no deadline of its own (requestTimeout is off for streams): a trickling client
    // would hold the connection for ever. The body deadline applies here too. (Node emits a
    // finished response's `close` right after its `finish`.)
    if (res.writableFinished && !ctx.req.complete && this.deps.options.bodyTimeoutMs > 0) this.bodyDeadline();
    if (!res.writableFinished && !call.cutByGateway && !call.clientStalled) call.clientAborted = true;
    call.status = call.clientAborted && !res.headersSent ? 499 : res.statusCode;
    // A client that leaves mid-request closes the response before the handler has unwound: the
    // upstream attempt it aborted is recorded on the way out, and the record must include it.
    if (this.handled) this.end();
    else this.safety = setTimeout(endLater, 10_000, this).unref();
    call.responseWatcher?.responseClosed(res.writableFinished);
  };

  end(): void {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.safety);
    const { call, deps } = this;
    try {
      call.admission?.release(call);
    } catch (err) {
      deps.log.error('limit release failed', { err: String(err), request_id: call.requestId });
    }
    deps.observers.requestEnd(call);
  }

  private bodyDeadline(): void {
    const req = this.ctx.req;
    const left = Math.max(0, this.deps.options.bodyTimeoutMs - (performance.now() - this.call.startedAt));
    const timer = setTimeout(() => req.socket.destroy(), left).unref();
    req.once('end', () => clearTimeout(timer));
    req.socket.on('close', () => clearTimeout(timer));
  }
}

const endLater = (life: RequestLife) => life.end();

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

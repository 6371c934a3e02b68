import type Koa from 'koa';
import { mergeUsage, type CallContext } from '../core/call';
import type { GatewayDeps } from './deps';
import { GatewayError, envelope } from '../core/errors';
import { parseJsonObject, readBody } from './body';
import { SseRelay, type StreamHooks } from './stream';
import { CLIENT_STALLED, guardWriteStall } from './write-stall';
import { validateRequest } from './validate';
import { runAttempts, type AttemptDeps } from '../routing/attempts';
import { redactHeaders, secretsOf } from '../providers/redact';
import { UpstreamFailure, type UpstreamReply } from '../core/upstream';
import type { Admission } from '../core/limits';
import { Cancellation } from '../core/cancellation';
import { setHeader, setHeaders } from './set-headers';
import { shutdownSet, type Shutdownable } from './shutdown-set';

type Endpoint = 'messages' | 'count_tokens';

/** POST /v1/messages and /v1/messages/count_tokens: read, validate, route, admit, forward, relay. */
export function messagesHandler(deps: GatewayDeps, endpoint: Endpoint): Koa.Middleware {
  const inFlight = shutdownSet(deps.shutdown);
  // Built once per handler rather than as literals (and a closure) per request.
  const bodyLimits = { maxBytes: deps.options.maxBodyBytes, idleTimeoutMs: deps.options.bodyIdleTimeoutMs, totalTimeoutMs: deps.options.bodyTimeoutMs };
  const attemptDeps: AttemptDeps = {
    adapter: deps.adapter,
    breakers: deps.breakers,
    observers: deps.observers,
    maxRetryWaitMs: deps.options.maxRetryWaitMs,
    baseBackoffMs: deps.options.baseBackoffMs,
    log: deps.log,
    onFdExhaustion: (message, call) => deps.reportFdExhaustion('out of file descriptors connecting upstream', { request_id: call.requestId, err: message }),
  };
  return async (ctx) => {
    const call: CallContext = ctx.state.call;
    call.endpoint = endpoint;
    const raw = await readBody(ctx.req, bodyLimits);
    const body = parseJsonObject(raw, ctx.get('content-type') || undefined);
    validateRequest(endpoint, body);
    call.body = body;
    call.requestedModel = body.model as string;
    call.stream = endpoint === 'messages' && body.stream === true;
    resolveRoute(call);

    const admission = await deps.limiter.admit(call);
    call.admission = admission;
    setHeaders(ctx.res, admission.headers);
    if (call.route!.shadows) deps.shadows.offer(call, { raw, search: ctx.search, clientHeaders: ctx.req.headers });

    // Aborted when the response closes unfinished (the request context reports the close) or
    // when a drain runs out of time.
    const client = new RequestCancellation(inFlight);
    call.responseWatcher = client;

    let reply: UpstreamReply;
    try {
      reply = await runAttempts(
        attemptDeps,
        call,
        { endpoint, body, raw, search: ctx.search, clientHeaders: ctx.req.headers, requestId: call.requestId },
        client,
      );
    } catch (err) {
      if (client.shuttingDown) {
        // Drain time ran out while the upstream had not answered: a retryable refusal, not a silent close.
        call.cutByGateway = true;
        throw new GatewayError(503, 'overloaded_error', 'gateway shutting down', { connection: 'close' });
      }
      if (err instanceof UpstreamFailure && err.kind === 'aborted') {
        call.clientAborted = true;
        ctx.respond = false; // nobody is listening
        return;
      }
      throw err;
    }
    relay(ctx, call, reply, deps, admission, client);
  };
}

/**
 * A request's cancellation, known to the handler's shutdown set until its response closes. Its
 * methods stand in for a closure per listener per request.
 */
class RequestCancellation extends Cancellation implements Shutdownable {
  shuttingDown = false;

  constructor(private readonly inFlight: Set<Shutdownable>) {
    super();
    inFlight.add(this);
  }

  shutdown(): void {
    this.shuttingDown = true;
    this.abort();
  }

  responseClosed(finished: boolean): void {
    if (!finished) this.abort();
    this.inFlight.delete(this);
  }
}

function resolveRoute(call: CallContext): void {
  const model = call.requestedModel!;
  const route = call.table!.route(model);
  if (!route) throw new GatewayError(404, 'not_found_error', `model: ${model} is not a model this gateway serves`);
  if (!call.key!.mayUse(model)) throw new GatewayError(403, 'permission_error', `this API key is not allowed to use model '${model}'`);
  call.route = route;
}

/** What a relayed stream reports as it goes: one object's methods, not three closures and the context they share, kept for the stream's life. */
class RelayHooks implements StreamHooks {
  constructor(
    private readonly deps: GatewayDeps,
    private readonly call: CallContext,
    private readonly admission: Admission,
  ) {}

  firstToken(): void {
    this.deps.observers.firstToken(this.call);
  }

  usage(): void {
    this.admission.usage?.(this.call, this.call.usage);
  }

  unexpected(err: unknown): void {
    this.deps.log.error('stream relay failed', { request_id: this.call.requestId, err: String((err as Error)?.stack ?? err) });
  }
}

const SSE_HEADERS = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' } as const;

function relay(ctx: Koa.Context, call: CallContext, reply: UpstreamReply, deps: GatewayDeps, admission: Admission, client: Cancellation): void {
  setHeaders(ctx.res, redactHeaders(reply.headers, secretsOf(call.target)));
  ctx.status = reply.status;
  if (reply.kind === 'sse') {
    // The parsed body is read no more once the stream starts, unless a shadow (which reads it a
    // turn after the offer) or an observer reading it at the end wants it: a stream can be open for
    // minutes, and a conversation's body parsed is often the largest thing it holds.
    if (!call.route!.shadows && !deps.observers.readsRequestBody) call.body = undefined;
    setHeaders(ctx.res, SSE_HEADERS);
    ctx.respond = false;
    const relay = new SseRelay(
      ctx.res,
      reply.events,
      call,
      new RelayHooks(deps, call, admission),
      client,
      deps.options.pingIntervalMs,
      deps.shutdown,
      deps.options.streamStallMs,
    );
    relay.run();
    return;
  }
  call.responseBody = reply.body;
  if (reply.status < 300) {
    mergeUsage(call.usage, reply.body?.usage);
    if (typeof reply.body?.input_tokens === 'number') call.usage.input_tokens = reply.body.input_tokens; // count_tokens
    if (typeof reply.body?.model === 'string') call.responseModel = reply.body.model;
    if (typeof reply.body?.stop_reason === 'string') call.stopReason = reply.body.stop_reason;
  } else {
    call.errorType = reply.body?.error?.type;
    call.errorMessage = reply.body?.error?.message;
  }
  guardWriteStall(ctx.res, deps.options.streamStallMs, () => {
    call.clientStalled = true;
    call.errorType = CLIENT_STALLED;
    call.errorMessage = `client read nothing for ${deps.options.streamStallMs / 1000} s`;
  });
  // What `ctx.type = 'application/json'` sets, without Koa's type lookup and its ctx.set().
  setHeader(ctx.res, 'content-type', 'application/json; charset=utf-8');
  ctx.body =
    reply.raw ??
    Buffer.from(
      JSON.stringify(
        reply.body?.type === 'error' && reply.body.request_id == null ? envelope(reply.body.error.type, reply.body.error.message, call.requestId) : reply.body,
      ),
    );
}

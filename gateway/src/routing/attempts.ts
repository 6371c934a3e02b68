import type { AttemptRecord, CallContext } from '../core/call';
import { GatewayError, statusForErrorType } from '../core/errors';
import { isFdExhaustion } from '../core/fd-limit';
import type { Observers } from '../core/observers';
import { payload } from '../core/payload';
import type { RetryCondition } from '../config/snapshot';
import type { Logger } from '../log';
import { UpstreamFailure, type FailureKind, type ProviderAdapter, type UpstreamCall, type UpstreamReply } from '../core/upstream';
import type { CircuitBreakers } from './breaker';
import { planGroups } from './plan';
import type { Target } from '../core/routes';
import type { Cancellation } from '../core/cancellation';

export interface AttemptDeps {
  adapter(target: Target): ProviderAdapter;
  breakers: CircuitBreakers;
  observers: Observers;
  /** Longest `retry-after` worth waiting for; longer ones move on to the next target or group. */
  maxRetryWaitMs: number;
  baseBackoffMs: number;
  random?: () => number;
  /** Told when an attempt failed because the gateway itself ran out of file descriptors. */
  onFdExhaustion?: (message: string, call: CallContext) => void;
  /** Where a failed attempt's upstream address goes (client-facing messages leave it out). */
  log?: Logger;
}

type AttemptBase = Omit<UpstreamCall, 'target' | 'signal' | 'cancellation' | 'extraHeaders'>;

/**
 * One attempt's UpstreamCall: the request's fields, the target, and `signal`, an AbortSignal made
 * only if a provider reads it. A class rather than a spread literal with a getter (which V8 makes
 * slowly) or properties copied onto an object (a map transition per property, and a property
 * store), once per attempt.
 */
class AttemptCall implements UpstreamCall {
  readonly endpoint: UpstreamCall['endpoint'];
  readonly body: Record<string, any>;
  readonly raw: Buffer;
  readonly search: string;
  readonly clientHeaders: UpstreamCall['clientHeaders'];
  readonly requestId: string;

  constructor(
    base: AttemptBase,
    readonly target: Target,
    readonly cancellation: Cancellation,
    readonly extraHeaders: Record<string, string>,
  ) {
    this.endpoint = base.endpoint;
    this.body = base.body;
    this.raw = base.raw;
    this.search = base.search;
    this.clientHeaders = base.clientHeaders;
    this.requestId = base.requestId;
  }

  get signal(): AbortSignal {
    return this.cancellation.signal;
  }
}

type Verdict = { retry: RetryCondition | null; retryAfterMs?: number; nextGroup?: boolean };
// The verdicts without a wait, shared (every successful reply is judged).
const NO_RETRY: Verdict = { retry: null };
const RETRY_CONNECT: Verdict = { retry: 'connect' };
const RETRY_TIMEOUT: Verdict = { retry: 'timeout' };

/**
 * Runs a request against its route: priority groups in order, up to `retry.attempts` tries per
 * group with backoff, then the next group (a fallback). Retries only happen before any byte has
 * gone to the client, which holds here because a reply is only returned, never relayed, by this
 * function. Returns the reply the client should get, or throws 502/504 when no upstream answered.
 */
export async function runAttempts(deps: AttemptDeps, call: CallContext, base: AttemptBase, clientSignal: Cancellation): Promise<UpstreamReply> {
  const route = call.route!;
  const groups = planGroups(route, deps.breakers, deps.random);
  let last: { reply?: UpstreamReply; failure?: UpstreamFailure } = {};
  let n = 0;
  for (let g = 0; g < groups.length; g++) {
    const group = groups[g];
    if (g > 0) call.fallbacks++;
    let skipGroup = false;
    for (let i = 0; i < route.retry.attempts && !skipGroup; i++) {
      if (clientSignal.aborted) throw new UpstreamFailure('aborted', 'client went away');
      const target = pick(group, i, deps.breakers);
      if (i > 0) {
        const verdict = last.reply ? judgeReply(last.reply) : judgeFailure(last.failure!);
        const wait = verdict.retryAfterMs ?? backoff(i, deps.baseBackoffMs, deps.random);
        if (wait > deps.maxRetryWaitMs) break;
        await sleep(wait, clientSignal);
      }
      n++;
      const started = performance.now();
      const extraHeaders = deps.observers.attemptStart(call, target, n);
      let reply: UpstreamReply;
      try {
        // The client's signal is the attempt's: a failed attempt has already ended by the time we
        // retry, and the one that answers must stop when the client leaves.
        const attempt = new AttemptCall(base, target, clientSignal, extraHeaders);
        reply = await deps.adapter(target).send(attempt);
        if (reply.kind === 'sse') reply = await primeStream(reply);
      } catch (err) {
        const failure = err instanceof UpstreamFailure ? err : new UpstreamFailure('network', (err as Error)?.message ?? String(err));
        if (failure.kind === 'aborted' || clientSignal.aborted) {
          record(deps, call, target, n, started, 'failure', undefined, undefined, 'aborted', false);
          throw new UpstreamFailure('aborted', 'client went away');
        }
        deps.log?.warn('upstream attempt failed', {
          request_id: call.requestId,
          provider: target.provider,
          model: target.model,
          upstream: failure.origin,
          kind: failure.kind,
          message: failure.message,
        });
        if (isFdExhaustion(failure)) {
          // The gateway's own fault, not the upstream's: no breaker strike, no retry (it would fail
          // the same way), and a 503 the client can retry, on another replica if there is one.
          record(deps, call, target, n, started, 'failure', undefined, 'overloaded_error', failure.kind, false);
          deps.onFdExhaustion?.(failure.message, call);
          throw new GatewayError(503, 'overloaded_error', 'the gateway is out of file descriptors; retry shortly', { 'retry-after': '1' });
        }
        const verdict = judgeFailure(failure);
        const retryable = verdict.retry !== null && route.retry.on.includes(verdict.retry);
        const timedOut = failure.kind === 'timeout' || failure.kind === 'idle_timeout';
        record(deps, call, target, n, started, 'failure', undefined, timedOut ? 'timeout_error' : 'api_error', failure.kind, retryable);
        deps.breakers.failure(target.id);
        last = { failure };
        if (!retryable) break;
        continue;
      }
      const verdict = judgeReply(reply);
      const retryable = verdict.retry !== null && route.retry.on.includes(verdict.retry);
      if (reply.status >= 500) deps.breakers.failure(target.id);
      else deps.breakers.success(target.id);
      const errorType = reply.kind === 'json' && reply.status >= 400 ? reply.body?.error?.type : undefined;
      record(deps, call, target, n, started, reply.status < 400 ? 'ok' : 'error', reply.status, errorType, undefined, retryable);
      if (!retryable) {
        call.target = target;
        return reply;
      }
      last = { reply };
      // A target out of quota is not retried; another target of its group still may be.
      if ((verdict.nextGroup && group.length === 1) || (verdict.retryAfterMs !== undefined && verdict.retryAfterMs > deps.maxRetryWaitMs)) skipGroup = true;
    }
  }
  if (last.reply) {
    call.target = call.attempts[call.attempts.length - 1]?.target;
    return last.reply;
  }
  const f = last.failure!;
  const timeout = f.kind === 'timeout' || f.kind === 'idle_timeout';
  throw new GatewayError(
    timeout ? 504 : 502,
    timeout ? 'timeout_error' : 'api_error',
    `no upstream answered for model '${call.requestedModel}' after ${n} attempt${n === 1 ? '' : 's'}; last error: ${f.message}`,
  );
}

/** Records an attempt and tells the observers: a function, not a closure made for every attempt. */
function record(
  deps: AttemptDeps,
  call: CallContext,
  target: Target,
  n: number,
  startedAt: number,
  outcome: AttemptRecord['outcome'],
  status: number | undefined,
  errorType: string | undefined,
  failure: FailureKind | undefined,
  retryable: boolean,
): void {
  // Every field in every record (undefined when an outcome has none): one shape for all of them.
  const rec: AttemptRecord = { target, n, startedAt, durationMs: performance.now() - startedAt, outcome, status, errorType, failure, retryable };
  // Most requests make one attempt: a one-element array, where a push onto the empty list would
  // give it room for 17.
  if (call.attempts.length === 0) call.attempts = [rec];
  else call.attempts.push(rec);
  deps.observers.attemptEnd(call, rec);
}

function pick(group: Target[], i: number, breakers: CircuitBreakers): Target {
  for (let k = 0; k < group.length; k++) {
    const t = group[(i + k) % group.length];
    if (breakers.allow(t.id)) return t;
  }
  return group[i % group.length];
}

function judgeFailure(f: UpstreamFailure): Verdict {
  switch (f.kind) {
    case 'connect':
    case 'network':
      return RETRY_CONNECT;
    case 'timeout':
    case 'idle_timeout':
      return RETRY_TIMEOUT;
    default:
      return NO_RETRY;
  }
}

function judgeReply(r: UpstreamReply): Verdict {
  if (r.headers['x-should-retry'] === 'false') return NO_RETRY;
  const retryAfterMs = parseRetryAfter(r.headers);
  if (r.status === 429) return { retry: '429', retryAfterMs };
  // Out of credit or quota (Anthropic billing_error, OpenAI insufficient_quota): the quota family
  // of `retry.on`, but the same target will not recover by the next try.
  if (r.status === 402) return { retry: '429', nextGroup: true };
  if (r.status >= 500) return { retry: '5xx', retryAfterMs };
  if (r.status === 408) return { retry: 'timeout', retryAfterMs };
  return NO_RETRY;
}

export function parseRetryAfter(h: Record<string, string>): number | undefined {
  const ms = Number(h['retry-after-ms']);
  if (h['retry-after-ms'] !== undefined && Number.isFinite(ms) && ms >= 0) return ms;
  const v = h['retry-after'];
  if (v === undefined) return undefined;
  const s = Number(v);
  if (Number.isFinite(s) && s >= 0) return s * 1000;
  const date = Date.parse(v);
  return Number.isFinite(date) ? Math.max(0, date - Date.now()) : undefined;
}

/** Exponential backoff with jitter: base·2^(n-1), uniformly between half and all of it, capped at 8 s. */
export function backoff(n: number, baseMs: number, random: () => number = Math.random): number {
  const full = Math.min(8000, baseMs * 2 ** (n - 1));
  return full / 2 + random() * (full / 2);
}

function sleep(ms: number, signal: Cancellation): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new UpstreamFailure('aborted', 'client went away'));
    const t = setTimeout(() => {
      signal.removeListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(new UpstreamFailure('aborted', 'client went away'));
    };
    signal.once('abort', onAbort);
  });
}

/**
 * Waits for a stream's first events before committing to it, so an upstream that accepts the
 * request and then immediately reports `overloaded_error` can still be retried elsewhere.
 */
async function primeStream(reply: Extract<UpstreamReply, { kind: 'sse' }>): Promise<UpstreamReply> {
  const stream = reply.events;
  const first = await stream.next();
  const head = first.done ? undefined : first.value.find((e) => e.event !== 'ping');
  if (head?.event === 'error') {
    const body = payload(head) ?? { type: 'error', error: { type: 'api_error', message: 'upstream stream error' } };
    stream.cancel();
    // The status the error type stands for, so the client (and the retry and breaker verdicts)
    // treat it as if the upstream had answered with it: an auth failure is a 401, not a 500.
    return { kind: 'json', status: statusForErrorType(body?.error?.type), headers: reply.headers, body };
  }
  // Back in front, for the relay to send first (with the headers, in one write).
  if (!first.done) stream.unshift(first.value);
  return reply;
}

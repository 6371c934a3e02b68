import type { CallContext } from '../core/call';
import type { Observer } from '../core/observers';
import { callCost } from '../core/cost';
import { NO_KEY, finalTarget, isChat, isProbe } from './labels';
import { traceIdsOf } from './trace-ids';

export type LineSink = (line: string) => void;

/**
 * One JSON line per request (base-URL probes excepted) when it is over. Carries names, counts and
 * timings only: never a key, a header, a prompt or a completion, and no error message either
 * (upstream messages can quote the prompt) — the error type says what went wrong.
 */
export class AccessLog implements Observer {
  constructor(private readonly sink: LineSink) {}

  requestEnd(call: CallContext): void {
    if (isProbe(call)) return;
    this.sink(JSON.stringify(accessRecord(call)));
  }
}

const round = (n: number, digits: number) => Math.round(n * 10 ** digits) / 10 ** digits;
/** Client-chosen strings (path, model) are cut so a hostile request cannot write a huge line. */
const cap = (s: string | undefined) => (s === undefined ? null : s.length > 256 ? s.slice(0, 256) + '…' : s);

export function accessRecord(call: CallContext): Record<string, unknown> {
  const target = finalTarget(call);
  const trace = traceIdsOf(call);
  const u = call.usage;
  const chat = isChat(call);
  const ttft = call.ttftMs;
  return {
    time: call.startTime.toISOString(),
    request_id: call.requestId,
    trace_id: trace?.traceId ?? null,
    span_id: trace?.spanId ?? null,
    method: call.http?.method ?? null,
    path: cap(call.http?.path),
    api_key: call.key?.name ?? NO_KEY,
    service_account: call.serviceAccount ?? null,
    route: call.route?.name ?? null,
    model: cap(call.requestedModel),
    provider: target?.provider ?? null,
    upstream_model: target?.model ?? null,
    response_model: call.responseModel ?? null,
    stream: call.stream,
    status: call.status,
    error_type: call.errorType ?? (call.clientAborted ? 'cancelled' : null),
    client_aborted: call.clientAborted,
    stop_reason: call.stopReason ?? null,
    input_tokens: chat ? u.input_tokens : 0,
    output_tokens: chat ? u.output_tokens : 0,
    cache_read_input_tokens: chat ? u.cache_read_input_tokens : 0,
    cache_creation_input_tokens: chat ? u.cache_creation_input_tokens : 0,
    cache_creation_1h_input_tokens: chat ? (u.cache_creation_1h_input_tokens ?? 0) : 0,
    cost_usd: round(callCost(call).total, 8),
    duration_ms: round(call.durationMs, 1),
    ttft_ms: ttft === undefined ? null : round(ttft, 1),
    attempts: call.attempts.map((a) => ({
      provider: a.target.provider,
      model: a.target.model,
      outcome: a.outcome,
      status: a.status ?? null,
      error_type: a.errorType ?? a.failure ?? null,
      /** What kind of transport failure (connect, timeout, idle_timeout, network, aborted), when there was no reply. */
      failure: a.failure ?? null,
      duration_ms: round(a.durationMs, 1),
    })),
    fallbacks: call.fallbacks,
    rate_limited: call.rateLimited ?? null,
    budget_exceeded: call.budgetExceeded ?? null,
  };
}

/**
 * Writes lines to a stream in batches: every line of one event-loop turn goes out in a single
 * write, so a busy gateway makes one write syscall per turn rather than one per request.
 */
export function batchedWriter(stream: NodeJS.WritableStream): LineSink {
  let pending: string[] = [];
  const flush = () => {
    const lines = pending;
    pending = [];
    stream.write(lines.join('\n') + '\n');
  };
  return (line) => {
    if (pending.push(line) === 1) setImmediate(flush);
  };
}

/** `SWITCHYARD_ACCESS_LOG`: stdout (default), stderr, or off. */
export function accessLogSinkFromEnv(value: string | undefined): LineSink | undefined {
  switch ((value ?? 'stdout').trim().toLowerCase()) {
    case 'off':
    case 'false':
    case 'none':
    case '0':
      return undefined;
    case 'stderr':
      return batchedWriter(process.stderr);
    case 'stdout':
    case '':
    case 'on':
    case 'true':
    case '1':
      return batchedWriter(process.stdout);
    default:
      throw new Error(`SWITCHYARD_ACCESS_LOG must be stdout, stderr or off, not '${value}'`);
  }
}

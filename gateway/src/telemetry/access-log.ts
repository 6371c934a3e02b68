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
    this.sink(accessLine(call));
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

// JSON.stringify of a string and String() of a finite number are exactly what JSON.stringify of
// the whole record writes for that value; a non-finite number is `null` there too.
// Printable ASCII other than `"` and `\` is written as it is, so a plain name skips the
// JSON.stringify call (~100 ns each, a dozen per line).
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;
const str = (s: string | null | undefined) => (s == null ? 'null' : PLAIN.test(s) ? '"' + s + '"' : JSON.stringify(s));
const num = (n: number) => (Number.isFinite(n) ? String(n) : 'null');

/**
 * `num(round(n, 1))` and `num(round(n, 8))` without V8's shortest-round-trip double formatting,
 * ~0.4 µs for a value not in its number-string cache, which a duration or a cost never is (three
 * or four per line). For a rounded value well inside the double range's exact decimals (below 2^31
 * tenths, between 1e-6 and 1e6 USD) the shortest decimal that reads back as the double is the
 * rounded decimal itself, written with its trailing zeros dropped; anything else (negative,
 * huge, tiny, non-finite) goes through `num` as before. test/access-log-line.test.ts holds both to
 * JSON.stringify over values of every size.
 */
export function tenths(n: number): string {
  const t = Math.round(n * 10);
  if (!(t >= 0 && t < 2147483648)) return num(t / 10);
  const i = (t / 10) | 0;
  const f = t - i * 10;
  return f === 0 ? String(i) : i + '.' + f;
}

export function usd(n: number): string {
  const t = Math.round(n * 1e8);
  // Below 1e-6 String() writes an exponent ("5e-7").
  if (!(t >= 100 && t < 1e14)) return num(t / 1e8);
  const i = Math.floor(t / 1e8);
  let f = t - i * 1e8;
  if (f === 0) return String(i);
  let digits = 8;
  while (f % 10 === 0) {
    f /= 10;
    digits--;
  }
  const frac = String(f);
  return i + '.' + '00000000'.slice(0, digits - frac.length) + frac;
}

// `toISOString()` is ~0.8 µs, a third of the line: the lines of one second share its first 20
// characters ("2026-03-31T23:59:59."), so only the milliseconds are written per line. An invalid
// date never matches the cached second and throws from toISOString as before.
let isoSecond = NaN;
let isoPrefix = '';
export function isoTime(d: Date): string {
  const ms = d.getTime();
  const second = Math.floor(ms / 1000);
  if (second !== isoSecond) {
    const iso = d.toISOString();
    isoSecond = second;
    isoPrefix = iso.slice(0, -4);
    return iso;
  }
  const m = ms - second * 1000;
  return isoPrefix + (m < 10 ? '00' : m < 100 ? '0' : '') + m + 'Z';
}

/**
 * `JSON.stringify(accessRecord(call))`, byte for byte, written out field by field: the generic
 * stringify of a ~30-field object (and building that object) was ~2% of a JSON request's CPU.
 * test/access-log-line.test.ts holds the two to the same output; a field added to one must be
 * added to the other.
 */
export function accessLine(call: CallContext): string {
  const target = finalTarget(call);
  const trace = traceIdsOf(call);
  const u = call.usage;
  const chat = isChat(call);
  const ttft = call.ttftMs;
  const http = call.http;
  let attempts = '';
  for (const a of call.attempts) {
    attempts +=
      (attempts === '' ? '{"provider":' : ',{"provider":') +
      str(a.target.provider) +
      ',"model":' +
      str(a.target.model) +
      ',"outcome":' +
      str(a.outcome) +
      ',"status":' +
      (a.status === undefined ? 'null' : num(a.status)) +
      ',"error_type":' +
      str(a.errorType ?? a.failure) +
      ',"failure":' +
      str(a.failure) +
      ',"duration_ms":' +
      tenths(a.durationMs) +
      '}';
  }
  const errorType = call.errorType ?? (call.clientAborted ? 'cancelled' : null);
  return (
    '{"time":"' +
    isoTime(call.startTime) +
    '","request_id":' +
    str(call.requestId) +
    ',"trace_id":' +
    str(trace?.traceId) +
    ',"span_id":' +
    str(trace?.spanId) +
    ',"method":' +
    str(http?.method) +
    ',"path":' +
    str(cap(http?.path)) +
    ',"api_key":' +
    str(call.key?.name ?? NO_KEY) +
    ',"service_account":' +
    str(call.serviceAccount) +
    ',"route":' +
    str(call.route?.name) +
    ',"model":' +
    str(cap(call.requestedModel)) +
    ',"provider":' +
    str(target?.provider) +
    ',"upstream_model":' +
    str(target?.model) +
    ',"response_model":' +
    str(call.responseModel) +
    ',"stream":' +
    (call.stream ? 'true' : 'false') +
    ',"status":' +
    num(call.status) +
    ',"error_type":' +
    str(errorType) +
    ',"client_aborted":' +
    (call.clientAborted ? 'true' : 'false') +
    ',"stop_reason":' +
    str(call.stopReason) +
    ',"input_tokens":' +
    (chat ? num(u.input_tokens) : '0') +
    ',"output_tokens":' +
    (chat ? num(u.output_tokens) : '0') +
    ',"cache_read_input_tokens":' +
    (chat ? num(u.cache_read_input_tokens) : '0') +
    ',"cache_creation_input_tokens":' +
    (chat ? num(u.cache_creation_input_tokens) : '0') +
    ',"cache_creation_1h_input_tokens":' +
    (chat ? num(u.cache_creation_1h_input_tokens ?? 0) : '0') +
    ',"cost_usd":' +
    usd(callCost(call).total) +
    ',"duration_ms":' +
    tenths(call.durationMs) +
    ',"ttft_ms":' +
    (ttft === undefined ? 'null' : tenths(ttft)) +
    ',"attempts":[' +
    attempts +
    '],"fallbacks":' +
    num(call.fallbacks) +
    ',"rate_limited":' +
    (call.rateLimited ? JSON.stringify(call.rateLimited) : 'null') +
    ',"budget_exceeded":' +
    (call.budgetExceeded ? JSON.stringify(call.budgetExceeded) : 'null') +
    '}'
  );
}

/**
 * A line is written on the next event-loop turn, unless a write was made less than WRITE_GAP_MS
 * ago: then it waits for the rest of that gap, with whatever lines come meanwhile. A quiet log is
 * written as promptly as ever; a busy one makes one write per gap, not one per request.
 */
const WRITE_GAP_MS = 1;
const FLUSH_BYTES = 64 * 1024;
const writers = new Map<NodeJS.WritableStream, { sink: LineSink; flush: () => void }>();
let exitHooked = false;

/**
 * Writes lines to a stream in batches (see WRITE_GAP_MS), at most about FLUSH_BYTES each. A write
 * per event-loop turn was still one write per request at bench load (~4 µs each: a stdout pipe or
 * file is written synchronously). Each line is encoded into the batch's buffer as it comes, not
 * kept as a string (a tree of concatenations) until a join and an encoding at the write. Lines
 * still pending when the process exits are written by an `exit` hook (those writes are
 * synchronous). One writer per stream, so the exit hook and the order of lines are shared by
 * whoever writes there.
 */
export function batchedWriter(stream: NodeJS.WritableStream): LineSink {
  const existing = writers.get(stream);
  if (existing) return existing.sink;
  let batch: Buffer | undefined;
  let bytes = 0;
  let scheduled = false;
  let timer: NodeJS.Timeout | undefined;
  let lastWrite = -Infinity;
  const flush = () => {
    scheduled = false;
    if (timer !== undefined) {
      clearTimeout(timer);
      timer = undefined;
    }
    if (bytes === 0) return;
    const out = batch!.subarray(0, bytes);
    // A new buffer for the next batch: the stream may hold this one until it is written.
    batch = undefined;
    bytes = 0;
    lastWrite = performance.now();
    stream.write(out);
  };
  const sink: LineSink = (line) => {
    // UTF-8 takes at most 3 bytes per UTF-16 unit; and one for the newline.
    const most = line.length * 3 + 1;
    if (most > FLUSH_BYTES - bytes) {
      flush();
      if (most > FLUSH_BYTES) {
        stream.write(line + '\n');
        return;
      }
    }
    batch ??= Buffer.allocUnsafe(FLUSH_BYTES);
    bytes += batch.write(line, bytes);
    batch[bytes++] = 0x0a;
    if (scheduled) return;
    scheduled = true;
    const wait = lastWrite + WRITE_GAP_MS - performance.now();
    if (wait <= 0) setImmediate(flush);
    // Unref'd: a pending line never keeps a drained process up; the exit hook writes it.
    else timer = setTimeout(flush, wait).unref();
  };
  writers.set(stream, { sink, flush });
  if (!exitHooked) {
    exitHooked = true;
    process.on('exit', () => {
      for (const w of writers.values()) w.flush();
    });
  }
  return sink;
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

import type { CallContext } from '../core/call';
import type { Observer } from '../core/observers';
import { callCost } from '../core/cost';
import { NO_KEY, finalTarget, isChat, isProbe } from './labels';
import { traceIdsOf } from './trace-ids';
import { ByteLine, bytes } from './byte-line';

export interface LineSink {
  (line: string): void;
  /**
   * Set on a batched writer: the line written by `encode` straight into its batch (the newline is
   * the writer's), with no string built for it.
   */
  encoded?: <T>(encode: (w: ByteLine, arg: T) => void, arg: T) => void;
}

/**
 * One JSON line per request (base-URL probes excepted) when it is over. Carries names, counts and
 * timings only: never a key, a header, a prompt or a completion, and no error message either
 * (upstream messages can quote the prompt) — the error type says what went wrong.
 */
export class AccessLog implements Observer {
  constructor(private readonly sink: LineSink) {}

  requestEnd(call: CallContext): void {
    if (isProbe(call)) return;
    const sink = this.sink;
    if (sink.encoded) sink.encoded(writeAccessLine, call);
    else sink(accessLine(call));
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
 * Durations and costs written as `JSON.stringify(round(n, 1))` and `JSON.stringify(round(n, 8))`
 * without V8's shortest-round-trip double formatting, ~0.4 µs for a value not in its
 * number-string cache, which a duration or a cost never is (three or four per line). For a rounded
 * value well inside the double range's exact decimals (below 2^31 tenths, between 1e-6 and 1e6
 * USD) the shortest decimal that reads back as the double is the rounded decimal itself, written
 * with its trailing zeros dropped; anything else (negative, huge, tiny, non-finite) goes through
 * `num` as before. test/access-log-line.test.ts holds both to JSON.stringify over values of every
 * size.
 */
function writeTenths(w: ByteLine, n: number): void {
  const t = Math.round(n * 10);
  if (!(t >= 0 && t < 2147483648)) return w.num(t / 10);
  const i = (t / 10) | 0;
  const f = t - i * 10;
  w.uint(i);
  if (f !== 0) {
    w.byte(0x2e);
    w.byte(0x30 + f);
  }
}

function writeUsd(w: ByteLine, n: number): void {
  const t = Math.round(n * 1e8);
  // Below 1e-6 String() writes an exponent ("5e-7").
  if (!(t >= 100 && t < 1e14)) return w.num(t / 1e8);
  const i = Math.floor(t / 1e8);
  let f = t - i * 1e8;
  w.uint(i);
  if (f === 0) return;
  let digits = 8;
  while (f % 10 === 0) {
    f /= 10;
    digits--;
  }
  w.byte(0x2e);
  w.padded(f, digits);
}

// `toISOString()` is ~0.8 µs, a third of the line: the lines of one second share its first 20
// characters ("2026-03-31T23:59:59."), so only the milliseconds are written per line. An invalid
// date never matches the cached second and throws from toISOString as before.
let isoSecond = NaN;
let isoPrefix = bytes('');
function writeIso(w: ByteLine, d: Date): void {
  const ms = d.getTime();
  const second = Math.floor(ms / 1000);
  if (second !== isoSecond) {
    const iso = d.toISOString();
    isoSecond = second;
    isoPrefix = bytes(iso.slice(0, -4));
    return w.ascii(iso);
  }
  w.raw(isoPrefix);
  w.padded(ms - second * 1000, 3);
  w.byte(0x5a);
}

/** Lines built for a string sink (and the string forms below) are written here first. */
const scratch = new ByteLine(4096);
function scratchString(encoding: 'utf8' | 'latin1'): string {
  const s = scratch.buf.toString(encoding, 0, scratch.pos);
  scratch.pos = 0;
  // A huge line's buffer is not kept for the next one.
  if (scratch.buf.length > 65536) scratch.buf = Buffer.allocUnsafe(4096);
  return s;
}

/** The string form of what `write` writes of `v` (ASCII). */
function viaScratch<T>(write: (w: ByteLine, v: T) => void, v: T): string {
  scratch.pos = 0;
  scratch.ensure(0);
  write(scratch, v);
  return scratchString('latin1');
}

export const tenths = (n: number): string => viaScratch(writeTenths, n);
export const usd = (n: number): string => viaScratch(writeUsd, n);
export const isoTime = (d: Date): string => viaScratch(writeIso, d);

const K = {
  time: bytes('{"time":"'),
  requestId: bytes('","request_id":'),
  traceId: bytes(',"trace_id":'),
  spanId: bytes(',"span_id":'),
  method: bytes(',"method":'),
  path: bytes(',"path":'),
  apiKey: bytes(',"api_key":'),
  serviceAccount: bytes(',"service_account":'),
  route: bytes(',"route":'),
  model: bytes(',"model":'),
  provider: bytes(',"provider":'),
  upstreamModel: bytes(',"upstream_model":'),
  responseModel: bytes(',"response_model":'),
  streamTrue: bytes(',"stream":true,"status":'),
  streamFalse: bytes(',"stream":false,"status":'),
  errorType: bytes(',"error_type":'),
  abortedTrue: bytes(',"client_aborted":true,"stop_reason":'),
  abortedFalse: bytes(',"client_aborted":false,"stop_reason":'),
  inputTokens: bytes(',"input_tokens":'),
  outputTokens: bytes(',"output_tokens":'),
  cacheRead: bytes(',"cache_read_input_tokens":'),
  cacheCreation: bytes(',"cache_creation_input_tokens":'),
  cacheCreation1h: bytes(',"cache_creation_1h_input_tokens":'),
  noTokens: bytes(',"input_tokens":0,"output_tokens":0,"cache_read_input_tokens":0,"cache_creation_input_tokens":0,"cache_creation_1h_input_tokens":0'),
  cost: bytes(',"cost_usd":'),
  duration: bytes(',"duration_ms":'),
  ttft: bytes(',"ttft_ms":'),
  noTtftAttempts: bytes(',"ttft_ms":null,"attempts":['),
  noTraceMethod: bytes(',"trace_id":null,"span_id":null,"method":'),
  noServiceAccountRoute: bytes(',"service_account":null,"route":'),
  noErrorDuration: bytes(',"error_type":null,"failure":null,"duration_ms":'),
  notLimitedEnd: bytes(',"rate_limited":null,"budget_exceeded":null}'),
  attempts: bytes(',"attempts":['),
  attemptFirst: bytes('{"provider":'),
  attemptNext: bytes(',{"provider":'),
  outcome: bytes(',"outcome":'),
  status: bytes(',"status":'),
  statusNull: bytes(',"status":null'),
  failure: bytes(',"failure":'),
  fallbacks: bytes('],"fallbacks":'),
  rateLimited: bytes(',"rate_limited":'),
  budgetExceeded: bytes(',"budget_exceeded":'),
  null: bytes('null'),
};

/** A value JSON.stringify writes itself (rate_limited, budget_exceeded: rare, small objects). */
function writeJson(w: ByteLine, v: unknown): void {
  if (!v) return w.raw(K.null);
  const s = JSON.stringify(v);
  w.ensure(3 * s.length);
  w.pos += w.buf.write(s, w.pos, 'utf8');
}

/**
 * `JSON.stringify(accessRecord(call))`, byte for byte, written as UTF-8 field by field with the
 * constant parts encoded once: the generic stringify of a ~30-field object (and building that
 * object) was ~2% of a JSON request's CPU, and the line built by concatenation ~3 KB of garbage
 * per request. test/access-log-line.test.ts holds the two to the same output; a field added to one
 * must be added to the other.
 */
export function writeAccessLine(w: ByteLine, call: CallContext): void {
  const target = finalTarget(call);
  const trace = traceIdsOf(call);
  const http = call.http;
  // Room for the pieces written unchecked before the first string (see ByteLine's SLACK).
  w.ensure(0);
  w.raw(K.time);
  writeIso(w, call.startTime);
  w.raw(K.requestId);
  w.str(call.requestId);
  // The usual absent values are written with the constant parts around them, in one piece.
  if (trace === undefined) w.raw(K.noTraceMethod);
  else {
    w.raw(K.traceId);
    w.str(trace.traceId);
    w.raw(K.spanId);
    w.str(trace.spanId);
    w.raw(K.method);
  }
  w.str(http?.method);
  w.raw(K.path);
  w.str(cap(http?.path));
  w.raw(K.apiKey);
  w.str(call.key?.name ?? NO_KEY);
  if (call.serviceAccount === undefined) w.raw(K.noServiceAccountRoute);
  else {
    w.raw(K.serviceAccount);
    w.str(call.serviceAccount);
    w.raw(K.route);
  }
  w.str(call.route?.name);
  w.raw(K.model);
  w.str(cap(call.requestedModel));
  w.raw(K.provider);
  w.str(target?.provider);
  w.raw(K.upstreamModel);
  w.str(target?.model);
  w.raw(K.responseModel);
  w.str(call.responseModel);
  w.raw(call.stream ? K.streamTrue : K.streamFalse);
  w.num(call.status);
  w.raw(K.errorType);
  w.str(call.errorType ?? (call.clientAborted ? 'cancelled' : null));
  w.raw(call.clientAborted ? K.abortedTrue : K.abortedFalse);
  w.str(call.stopReason);
  if (isChat(call)) {
    const u = call.usage;
    w.raw(K.inputTokens);
    w.num(u.input_tokens);
    w.raw(K.outputTokens);
    w.num(u.output_tokens);
    w.raw(K.cacheRead);
    w.num(u.cache_read_input_tokens);
    w.raw(K.cacheCreation);
    w.num(u.cache_creation_input_tokens);
    w.raw(K.cacheCreation1h);
    w.num(u.cache_creation_1h_input_tokens ?? 0);
  } else w.raw(K.noTokens);
  w.raw(K.cost);
  writeUsd(w, callCost(call).total);
  w.raw(K.duration);
  writeTenths(w, call.durationMs);
  const ttft = call.ttftMs;
  if (ttft === undefined) w.raw(K.noTtftAttempts);
  else {
    w.raw(K.ttft);
    writeTenths(w, ttft);
    w.raw(K.attempts);
  }
  const attempts = call.attempts;
  for (let i = 0; i < attempts.length; i++) {
    const a = attempts[i];
    w.raw(i === 0 ? K.attemptFirst : K.attemptNext);
    w.str(a.target.provider);
    w.raw(K.model);
    w.str(a.target.model);
    w.raw(K.outcome);
    w.str(a.outcome);
    if (a.status === undefined) w.raw(K.statusNull);
    else {
      w.raw(K.status);
      w.num(a.status);
    }
    if (a.errorType === undefined && a.failure === undefined) w.raw(K.noErrorDuration);
    else {
      w.raw(K.errorType);
      w.str(a.errorType ?? a.failure);
      w.raw(K.failure);
      w.str(a.failure);
      w.raw(K.duration);
    }
    writeTenths(w, a.durationMs);
    w.byte(0x7d);
  }
  w.raw(K.fallbacks);
  w.num(call.fallbacks);
  if (!call.rateLimited && !call.budgetExceeded) w.raw(K.notLimitedEnd);
  else {
    w.raw(K.rateLimited);
    writeJson(w, call.rateLimited);
    w.raw(K.budgetExceeded);
    writeJson(w, call.budgetExceeded);
    w.byte(0x7d);
  }
}

/** The access-log line as a string, for a sink that takes strings. */
export function accessLine(call: CallContext): string {
  scratch.pos = 0;
  writeAccessLine(scratch, call);
  return scratchString('utf8');
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
  // Always fewer than FLUSH_BYTES bytes in it between lines (a fuller batch is written at once).
  let batch: ByteLine | undefined;
  let scheduled = false;
  let timer: NodeJS.Timeout | undefined;
  let lastWrite = -Infinity;
  const write = (out: Buffer | string) => {
    lastWrite = performance.now();
    stream.write(out);
  };
  const flush = () => {
    scheduled = false;
    if (timer !== undefined) {
      clearTimeout(timer);
      timer = undefined;
    }
    if (batch === undefined || batch.pos === 0) return;
    // The stream may hold what it is given until it is written, so it gets a copy of the batch's
    // bytes and the batch keeps its buffer. A fresh FLUSH_BYTES buffer per batch was a 64 KiB
    // ArrayBuffer outside the heap every millisecond or so under load: V8 counts such external
    // memory and starts a full GC each time it grows by its limit, which at 1,000 requests a
    // second was a mark-compact every ~300 ms and a ~20 ms stall of every request in flight. A copy
    // this size comes from Node's shared 8 KiB pool, or is one allocation the size of the bytes.
    const out = Buffer.from(batch.buf.subarray(0, batch.pos));
    batch.pos = batch.start = 0;
    // A line that outgrew the batch left it a larger buffer: back to the usual size.
    if (batch.buf.length > FLUSH_BYTES) batch = undefined;
    write(out);
  };
  // The line being encoded does not fit: the whole lines before it are written, and it moves to a
  // new buffer with room for its worst case.
  const grow = (b: ByteLine, need: number) => {
    const partial = b.pos - b.start;
    const next = Buffer.allocUnsafe(Math.max(FLUSH_BYTES, 2 * (partial + need)));
    b.buf.copy(next, 0, b.start, b.pos);
    const done = b.start > 0 ? b.buf.subarray(0, b.start) : undefined;
    b.buf = next;
    b.pos = partial;
    b.start = 0;
    if (done) write(done);
  };
  const schedule = () => {
    if (scheduled) return;
    scheduled = true;
    const wait = lastWrite + WRITE_GAP_MS - performance.now();
    if (wait <= 0) setImmediate(flush);
    // Unref'd: a pending line never keeps a drained process up; the exit hook writes it.
    else timer = setTimeout(flush, wait).unref();
  };
  const sink: LineSink = (line) => {
    // UTF-8 takes at most 3 bytes per UTF-16 unit; and one for the newline.
    const most = line.length * 3 + 1;
    if (most > FLUSH_BYTES - (batch?.pos ?? 0)) {
      flush();
      if (most > FLUSH_BYTES) {
        write(line + '\n');
        return;
      }
    }
    const b = (batch ??= new ByteLine(FLUSH_BYTES, grow));
    b.pos += b.buf.write(line, b.pos);
    b.buf[b.pos++] = 0x0a;
    schedule();
  };
  sink.encoded = (encode, arg) => {
    const b = (batch ??= new ByteLine(FLUSH_BYTES, grow));
    b.start = b.pos;
    try {
      encode(b, arg);
    } catch (err) {
      b.pos = b.start;
      throw err;
    }
    b.byte(0x0a);
    if (b.pos >= FLUSH_BYTES) flush();
    else schedule();
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

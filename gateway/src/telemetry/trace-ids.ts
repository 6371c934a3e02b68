import type { CallContext } from '../core/call';

/**
 * Trace ids for the access log, without loading OpenTelemetry: the tracing observer (when on)
 * records the ids of the request's SERVER span here; with tracing off the access log still
 * carries the trace id of the client's W3C `traceparent`, so log lines join the caller's traces.
 */
export interface TraceIds {
  traceId: string;
  spanId?: string;
}

const TRACEPARENT = /^[\da-f]{2}-([\da-f]{32})-([\da-f]{16})-[\da-f]{2}$/;

export function setTraceIds(call: CallContext, ids: TraceIds): void {
  call.extra.trace = ids;
}

export function traceIdsOf(call: CallContext): TraceIds | undefined {
  const ids = call.extra.trace as TraceIds | undefined;
  if (ids) return ids;
  const tp = call.http?.headers.traceparent;
  if (typeof tp !== 'string') return undefined;
  const m = TRACEPARENT.exec(tp.trim());
  if (!m || /^0+$/.test(m[1])) return undefined;
  return { traceId: m[1] };
}

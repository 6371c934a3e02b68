import type { CallContext, TraceIds } from '../core/call';

export type { TraceIds };

const TRACEPARENT = /^[\da-f]{2}-([\da-f]{32})-([\da-f]{16})-[\da-f]{2}$/;

export function setTraceIds(call: CallContext, ids: TraceIds): void {
  call.trace = ids;
}

export function traceIdsOf(call: CallContext): TraceIds | undefined {
  const ids = call.trace;
  if (ids) return ids;
  const tp = call.http?.headers.traceparent;
  if (typeof tp !== 'string') return undefined;
  const m = TRACEPARENT.exec(tp.trim());
  if (!m || /^0+$/.test(m[1])) return undefined;
  return { traceId: m[1] };
}

import { envelope, errorTypeForStatus, type ErrorType } from '../../core/errors';
import { parseJson } from '../json';
import { redact } from '../redact';
import type { JsonAnswer } from '../translator';
import type { GoogleError } from './wire';

export interface MappedError {
  status: number;
  type: ErrorType;
  message: string;
  /** Seconds, from Google's RetryInfo. */
  retryAfter?: string;
}

/**
 * Google's `{"error":{code,message,status,details}}` → Anthropic's status and error type. The
 * gRPC `status` decides when present (it is more specific than the HTTP code: a bad API key is a
 * 400 INVALID_ARGUMENT with ErrorInfo API_KEY_INVALID, which clients should see as 401).
 */
export function mapGoogleError(httpStatus: number, err: GoogleError | undefined): MappedError {
  const message = typeof err?.message === 'string' && err.message ? err.message : `Gemini returned HTTP ${httpStatus}`;
  const reasons = (err?.details ?? []).map((d) => d?.reason).filter((r) => typeof r === 'string');
  const retryAfter = retryDelaySeconds(err?.details);
  const m = (status: number, type: ErrorType): MappedError => ({ status, type, message, ...(retryAfter ? { retryAfter } : {}) });
  if (reasons.includes('API_KEY_INVALID') || err?.status === 'UNAUTHENTICATED') return m(401, 'authentication_error');
  if (/overload/i.test(message) && httpStatus >= 500) return m(529, 'overloaded_error');
  switch (err?.status) {
    case 'INVALID_ARGUMENT':
    case 'FAILED_PRECONDITION':
    case 'OUT_OF_RANGE':
      return m(400, 'invalid_request_error');
    case 'PERMISSION_DENIED':
      return m(403, 'permission_error');
    case 'NOT_FOUND':
      return m(404, 'not_found_error');
    case 'RESOURCE_EXHAUSTED':
      return m(429, 'rate_limit_error');
    case 'UNAVAILABLE':
      return m(529, 'overloaded_error');
    case 'DEADLINE_EXCEEDED':
      return m(504, 'timeout_error');
    case 'INTERNAL':
    case 'UNKNOWN':
    case 'CANCELLED':
      return m(500, 'api_error');
  }
  const code = typeof err?.code === 'number' && err.code >= 400 ? err.code : httpStatus;
  if (code === 503) return m(529, 'overloaded_error');
  if (code >= 500) return m(code === 504 ? 504 : code, errorTypeForStatus(code));
  if (code < 400) return m(502, 'api_error');
  return m(code, errorTypeForStatus(code));
}

/** RetryInfo `retryDelay` ("36s", "1.5s") as whole seconds for `retry-after`. */
export function retryDelaySeconds(details: GoogleError['details']): string | undefined {
  const info = (details ?? []).find((d) => typeof d?.['@type'] === 'string' && d['@type'].endsWith('google.rpc.RetryInfo'));
  const m = typeof info?.retryDelay === 'string' ? /^(\d+(?:\.\d+)?)s$/.exec(info.retryDelay) : null;
  return m ? String(Math.ceil(Number(m[1]))) : undefined;
}

/** Reads a Google error body: an object, or Vertex's one-element array. */
export function googleErrorOf(body: unknown): GoogleError | undefined {
  const b = Array.isArray(body) ? body[0] : body;
  const e = b && typeof b === 'object' ? (b as any).error : undefined;
  return e && typeof e === 'object' ? e : undefined;
}

/** A non-2xx Gemini reply as the JSON reply the core relays (and retries on 429/5xx). */
export function errorReply(
  httpStatus: number,
  upstreamHeaders: Record<string, string>,
  raw: Buffer,
  secrets: readonly string[],
): JsonAnswer & { headers: Record<string, string> } {
  const err = googleErrorOf(parseJson(raw));
  const mapped = err ? mapGoogleError(httpStatus, err) : fallback(httpStatus, raw);
  const headers: Record<string, string> = {};
  const retryAfter = mapped.retryAfter ?? upstreamHeaders['retry-after'];
  if (retryAfter !== undefined) headers['retry-after'] = retryAfter;
  return { status: mapped.status, headers, body: envelope(mapped.type, redact(mapped.message, secrets), null) };
}

function fallback(httpStatus: number, raw: Buffer): MappedError {
  const snippet = raw.toString('utf8').replace(/\s+/g, ' ').trim().slice(0, 200);
  const mapped = mapGoogleError(httpStatus, undefined);
  return { ...mapped, message: `Gemini returned HTTP ${httpStatus}${snippet ? `: ${snippet}` : ''}` };
}

/** The data of an Anthropic `error` event for a Google error met inside a stream. */
export function streamErrorData(err: GoogleError, secrets: readonly string[], requestId: string | null) {
  const mapped = mapGoogleError(typeof err.code === 'number' ? err.code : 500, err);
  return envelope(mapped.type, redact(mapped.message, secrets), requestId);
}

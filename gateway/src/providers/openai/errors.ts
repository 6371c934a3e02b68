import { envelope, type ErrorType } from '../../core/errors';
import { parseJson } from '../json';
import { redact } from '../redact';
import { RELAYED_HEADERS } from '../../core/upstream';

export interface ErrorReply {
  status: number;
  headers: Record<string, string>;
  body: ReturnType<typeof envelope>;
}

/**
 * An upstream error reply as the Anthropic error a client expects. The status changes where
 * Anthropic would answer differently (422 → 400, 503 → 529 overloaded), because clients such as
 * Claude Code act on the status; `retry-after` survives so the gateway and the SDK back off alike.
 */
export function errorReply(status: number, upstreamHeaders: Record<string, string>, raw: Buffer, secrets: readonly string[]): ErrorReply {
  const parsed = parseJson(raw);
  const err = parsed?.error && typeof parsed.error === 'object' ? parsed.error : parsed;
  const code = typeof err?.code === 'string' ? err.code : undefined;
  let message =
    firstString(err?.message, parsed?.message, parsed?.detail, typeof parsed?.error === 'string' ? parsed.error : undefined) ??
    `HTTP ${status}: ${raw.toString('utf8').replace(/\s+/g, ' ').slice(0, 200) || '(empty body)'}`;
  message = redact(message, secrets);
  const [outStatus, type] = mapStatus(status, code);
  if (status === 401) message = `the upstream rejected the gateway's credentials for this target: ${message}`;
  return { status: outStatus, headers: relayedHeaders(upstreamHeaders, status), body: envelope(type, message, null) };
}

function mapStatus(status: number, code: string | undefined): [number, ErrorType] {
  switch (status) {
    case 400:
    case 422:
      return [400, 'invalid_request_error'];
    case 401:
      return [401, 'authentication_error'];
    case 402:
      return [402, 'billing_error'];
    case 403:
      return [403, 'permission_error'];
    case 404:
      return [404, 'not_found_error'];
    case 413:
      return [413, 'request_too_large'];
    // Quota exhaustion is billing, not a rate limit: retrying it only burns attempts.
    case 429:
      return code === 'insufficient_quota' ? [402, 'billing_error'] : [429, 'rate_limit_error'];
    case 503:
      return [529, 'overloaded_error'];
    case 504:
      return [504, 'timeout_error'];
    default:
      return [status, status >= 500 || status === 408 || status === 409 ? 'api_error' : 'invalid_request_error'];
  }
}

/** The Anthropic error type for a mid-stream `{"error": …}` (OpenAI's string types, vLLM's class names and integer codes). */
export function streamErrorType(err: any): ErrorType {
  const s = `${err?.type ?? ''} ${typeof err?.code === 'string' ? err.code : ''}`.toLowerCase();
  if (s.includes('rate_limit') || s.includes('ratelimit')) return 'rate_limit_error';
  if (s.includes('overload') || s.includes('unavailable')) return 'overloaded_error';
  if (s.includes('timeout')) return 'timeout_error';
  if (s.includes('invalid_request') || s.includes('badrequest') || s.includes('context_length')) return 'invalid_request_error';
  if (typeof err?.code === 'number' && err.code >= 400 && err.code < 500) return err.code === 429 ? 'rate_limit_error' : 'invalid_request_error';
  return 'api_error';
}

export function streamErrorMessage(err: any, secrets: readonly string[]): string {
  return redact(firstString(err?.message, typeof err === 'string' ? err : undefined) ?? 'upstream reported an error mid-stream', secrets);
}

function relayedHeaders(h: Record<string, string>, status: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of RELAYED_HEADERS) if (h[k] !== undefined) out[k] = h[k];
  if (h['x-request-id']) out['upstream-request-id'] = h['x-request-id'];
  // OpenAI often omits retry-after on 429 but says when its buckets refill; that is the same fact.
  if (status === 429 && out['retry-after'] === undefined && out['retry-after-ms'] === undefined) {
    const waits = [h['x-ratelimit-reset-requests'], h['x-ratelimit-reset-tokens']].map(durationSeconds).filter((s): s is number => s !== undefined);
    if (waits.length) out['retry-after'] = String(Math.ceil(Math.max(...waits)));
  }
  return out;
}

/** OpenAI's reset durations: `1s`, `6m0s`, `12ms`, `1h2m3.5s`. */
export function durationSeconds(v: string | undefined): number | undefined {
  if (!v) return undefined;
  const re = /(\d+(?:\.\d+)?)(ms|h|m|s)/g;
  let total = 0;
  let matched = '';
  for (let m = re.exec(v); m; m = re.exec(v)) {
    total += Number(m[1]) * { ms: 0.001, s: 1, m: 60, h: 3600 }[m[2] as 'ms' | 's' | 'm' | 'h'];
    matched += m[0];
  }
  return matched === v.trim() && matched ? total : undefined;
}

function firstString(...xs: unknown[]): string | undefined {
  for (const x of xs) if (typeof x === 'string' && x) return x;
  return undefined;
}

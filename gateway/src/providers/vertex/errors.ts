import { envelope, errorTypeForStatus } from '../../core/errors';
import { googleErrorOf, mapGoogleError, type MappedError } from '../gemini/errors';
import { redact } from '../redact';

/**
 * A non-2xx Vertex reply. For Claude models Vertex relays Anthropic's own envelope (kept as is,
 * type included); its front end (auth, quota, routing) answers Google's `{"error":{code,status}}`,
 * mapped as for Gemini. Anything else gets the conventional type for its status.
 */
export function mapVertexError(httpStatus: number, raw: Buffer, secrets: readonly string[] = []): MappedError {
  let body: unknown;
  try {
    body = JSON.parse(raw.toString('utf8'));
  } catch {
    body = undefined;
  }
  const scrub = (m: string) => redact(m, secrets);
  const anthropic = body as { type?: unknown; error?: { type?: unknown; message?: unknown } } | undefined;
  if (anthropic?.type === 'error' && typeof anthropic.error?.type === 'string') {
    const status = httpStatus === 503 ? 529 : httpStatus;
    const message = typeof anthropic.error.message === 'string' ? anthropic.error.message : `Vertex returned HTTP ${httpStatus}`;
    return { status, type: anthropic.error.type as MappedError['type'], message: scrub(message) };
  }
  const google = googleErrorOf(body);
  if (google) {
    const m = mapGoogleError(httpStatus, google);
    return { ...m, message: scrub(`Vertex AI ${google.status ?? httpStatus}: ${m.message}`) };
  }
  const status = httpStatus === 503 ? 529 : httpStatus >= 400 ? httpStatus : 502;
  return { status, type: errorTypeForStatus(status), message: `Vertex AI returned HTTP ${httpStatus}` };
}

export function vertexErrorReply(httpStatus: number, raw: Buffer, requestId: string | null, secrets: readonly string[] = []) {
  const m = mapVertexError(httpStatus, raw, secrets);
  return { status: m.status, body: envelope(m.type, m.message, requestId), ...(m.retryAfter ? { retryAfter: m.retryAfter } : {}) };
}

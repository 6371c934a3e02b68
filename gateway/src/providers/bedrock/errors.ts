import { envelope, errorTypeForStatus, type ErrorType } from '../../core/errors';
import { redact } from '../redact';

export interface MappedError {
  status: number;
  type: ErrorType;
  message: string;
}

/**
 * Bedrock's exception names → Anthropic status and type. Statuses follow what Anthropic would send
 * for the same condition, so clients (and the gateway's retry/fallback) treat them alike: capacity
 * problems are 529 overloaded_error, quota problems 429.
 */
const BY_EXCEPTION: Record<string, [number, ErrorType]> = {
  validationexception: [400, 'invalid_request_error'],
  accessdeniedexception: [403, 'permission_error'],
  unrecognizedclientexception: [401, 'authentication_error'],
  expiredtokenexception: [401, 'authentication_error'],
  resourcenotfoundexception: [404, 'not_found_error'],
  throttlingexception: [429, 'rate_limit_error'],
  servicequotaexceededexception: [429, 'rate_limit_error'],
  modelnotreadyexception: [529, 'overloaded_error'],
  modeltimeoutexception: [504, 'timeout_error'],
  modelerrorexception: [500, 'api_error'],
  modelstreamerrorexception: [500, 'api_error'],
  internalserverexception: [500, 'api_error'],
  serviceunavailableexception: [529, 'overloaded_error'],
};

/**
 * `x-amzn-ErrorType` is `Name` or `Name:http://internal.amazon.com/...`; exception frames use
 * camelCase (`throttlingException`). Both reduce to the lower-case bare name.
 */
export function exceptionName(raw: string | undefined): string | undefined {
  const name = raw?.split(':')[0]?.split('#').pop()?.trim();
  return name ? name.toLowerCase() : undefined;
}

/** A Bedrock failure (HTTP reply or exception frame) as Anthropic's status, type and message. */
export function mapBedrockError(
  httpStatus: number,
  errorType: string | undefined,
  body: unknown,
  secrets: readonly string[] = [],
  modelId?: string,
): MappedError {
  const name = exceptionName(errorType ?? awsTypeInBody(body));
  const awsMessage = messageOf(body);
  const known = name ? BY_EXCEPTION[name] : undefined;
  let status: number;
  let type: ErrorType;
  if (known) {
    [status, type] = known;
  } else if (httpStatus === 503) {
    [status, type] = [529, 'overloaded_error'];
  } else if (httpStatus >= 400) {
    [status, type] = [httpStatus, errorTypeForStatus(httpStatus)];
  } else {
    // An exception frame with an unknown name, or a non-error status carrying an error: never a success.
    [status, type] = [502, 'api_error'];
  }
  const label = name ? (errorType ?? awsTypeInBody(body) ?? name).split(':')[0] : `HTTP ${httpStatus}`;
  let message = awsMessage ? `Bedrock ${label}: ${awsMessage}` : `Bedrock returned ${label}`;
  // AWS's AccessDenied text names the principal; the operator also needs to know which model.
  if ((status === 403 || status === 404) && modelId && !message.includes(modelId)) message += ` (model ${modelId})`;
  return { status, type, message: redact(message, secrets) };
}

function awsTypeInBody(body: unknown): string | undefined {
  const b = body as Record<string, unknown> | null;
  const t = b && typeof b === 'object' ? (b.__type ?? b.code) : undefined;
  return typeof t === 'string' ? t : undefined;
}

function messageOf(body: unknown): string | undefined {
  if (typeof body === 'string') return body.trim() || undefined;
  const b = body as Record<string, unknown> | null;
  const m = b && typeof b === 'object' ? (b.message ?? b.Message) : undefined;
  return typeof m === 'string' && m ? m : undefined;
}

/** A non-2xx Bedrock reply as the Anthropic error body the client gets. */
export function bedrockErrorReply(
  httpStatus: number,
  headers: Record<string, string | undefined>,
  raw: Buffer,
  requestId: string | null,
  secrets: readonly string[] = [],
  modelId?: string,
) {
  let body: unknown;
  try {
    body = JSON.parse(raw.toString('utf8'));
  } catch {
    body = raw.toString('utf8').slice(0, 500);
  }
  const errorType = headers['x-amzn-errortype'] ?? headers['x-amzn-ErrorType'];
  const mapped = mapBedrockError(httpStatus, errorType, body, secrets, modelId);
  return { status: mapped.status, body: envelope(mapped.type, mapped.message, requestId) };
}

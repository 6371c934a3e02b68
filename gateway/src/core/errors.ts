/**
 * The Anthropic error envelope. Every refusal the gateway itself produces goes through GatewayError,
 * so one middleware (errorEnvelope) renders all of them identically.
 */
export type ErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'billing_error'
  | 'permission_error'
  | 'not_found_error'
  | 'request_too_large'
  | 'rate_limit_error'
  | 'api_error'
  | 'timeout_error'
  | 'overloaded_error';

export class GatewayError extends Error {
  constructor(
    readonly status: number,
    readonly type: ErrorType,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'GatewayError';
  }
}

export const invalidRequest = (message: string) => new GatewayError(400, 'invalid_request_error', message);

export function envelope(type: string, message: string, requestId: string | null) {
  return { type: 'error' as const, error: { type, message }, request_id: requestId };
}

/** The conventional error type for an HTTP status, used when an upstream body carries none. */
export function errorTypeForStatus(status: number): ErrorType {
  switch (status) {
    case 400:
      return 'invalid_request_error';
    case 401:
      return 'authentication_error';
    case 402:
      return 'billing_error';
    case 403:
      return 'permission_error';
    case 404:
      return 'not_found_error';
    case 413:
      return 'request_too_large';
    case 429:
      return 'rate_limit_error';
    case 503:
    case 529:
      return 'overloaded_error';
    case 504:
      return 'timeout_error';
    default:
      return status >= 500 ? 'api_error' : 'invalid_request_error';
  }
}

const STATUS_OF: Record<string, number> = {
  invalid_request_error: 400,
  authentication_error: 401,
  billing_error: 402,
  permission_error: 403,
  not_found_error: 404,
  request_too_large: 413,
  rate_limit_error: 429,
  timeout_error: 504,
  overloaded_error: 529,
};

/** The status Anthropic answers with for an error type (500 for api_error and types it does not know). */
export function statusForErrorType(type: unknown): number {
  return (typeof type === 'string' && STATUS_OF[type]) || 500;
}

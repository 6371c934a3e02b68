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
    case 400: return 'invalid_request_error';
    case 401: return 'authentication_error';
    case 402: return 'billing_error';
    case 403: return 'permission_error';
    case 404: return 'not_found_error';
    case 413: return 'request_too_large';
    case 429: return 'rate_limit_error';
    case 503: case 529: return 'overloaded_error';
    case 504: return 'timeout_error';
    default: return status >= 500 ? 'api_error' : 'invalid_request_error';
  }
}

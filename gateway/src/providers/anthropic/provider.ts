import { envelope, errorTypeForStatus } from '../../core/errors';
import { joinUrl, targetName } from '../http';
import { parseJson } from '../json';
import { redact, redactJson, secretsOf } from '../redact';
import type { Provider } from '../translator';
import { RELAYED_HEADERS, type UpstreamCall } from '../../core/upstream';
import { withoutForeignThinking } from './foreign-thinking';
import { passThrough } from './pass-through';
import { replaceTopLevelString } from './splice';

const PATHS = { messages: '/v1/messages', count_tokens: '/v1/messages/count_tokens' } as const;

/**
 * Anthropic upstreams: the client's body goes out byte for byte but for `model`; the upstream's
 * events come back byte for byte (`relay`). Only headers are rebuilt, so the client's
 * credentials never leave the gateway.
 */
export const anthropicProvider: Provider = {
  request(call) {
    return {
      url: joinUrl(call.target.baseURL, PATHS[call.endpoint]) + call.search,
      headers: upstreamHeaders(call),
      body: outgoingBody(call),
      state: undefined,
    };
  },

  auth(call, headers) {
    if (call.target.apiKey) headers['x-api-key'] = call.target.apiKey;
  },

  responseHeaders: relayed,

  // A 2xx must be what the endpoint promises (a Message, a token count): anything else is the
  // upstream failing, a 502 `api_error` the core retries and the breaker counts.
  response(body, _state, call, res) {
    if (call.endpoint === 'messages' ? body.type === 'message' && Array.isArray(body.content) : typeof body.input_tokens === 'number')
      return { status: res.status, body, raw: res.raw };
    const what =
      body.type === 'error'
        ? `an error: ${String(body.error?.message ?? body.error?.type)}`
        : `JSON that is not a ${call.endpoint === 'messages' ? 'Message' : 'token count'}`;
    return {
      status: 502,
      body: envelope('api_error', redact(`${targetName(call.target)} answered HTTP ${res.status} with ${what}`, secretsOf(call.target)).slice(0, 500), null),
    };
  },

  errorReply(status, headers, raw, call) {
    return { headers: relayed(headers), ...errorBody(call, status, raw) };
  },

  relay: passThrough,
};

/** The client's bytes with the target's model spliced in; re-serialized only when foreign thinking blocks must go. */
function outgoingBody(call: UpstreamCall): Buffer {
  const { target } = call;
  // A byte search first: a body without signatures has nothing to drop, and most have none.
  const cleaned = call.raw.includes(SIGNATURE) ? withoutForeignThinking(call.body) : undefined;
  if (cleaned) return Buffer.from(JSON.stringify({ ...cleaned, model: target.model }));
  return call.body.model === target.model ? call.raw : replaceTopLevelString(call.raw, 'model', target.model);
}

const SIGNATURE = Buffer.from('"signature"');

function upstreamHeaders(call: UpstreamCall): Record<string, string> {
  const h: Record<string, string> = {
    'content-type': 'application/json',
    accept: 'application/json',
    'anthropic-version': '2023-06-01',
  };
  // Every anthropic-* header (version, beta, and whatever Anthropic adds next) goes through as sent.
  for (const k in call.clientHeaders) {
    const v = call.clientHeaders[k];
    if (k.startsWith('anthropic-') && typeof v === 'string') h[k] = v;
  }
  const ua = call.clientHeaders['user-agent'];
  if (typeof ua === 'string') h['user-agent'] = ua;
  return h;
}

/** The response headers relayed to the client (retry hints, the upstream's request id); Vertex's Claude path shares them. */
export function relayed(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of RELAYED_HEADERS) if (headers[k] !== undefined) out[k] = headers[k];
  if (headers['request-id']) out['upstream-request-id'] = headers['request-id'];
  return out;
}

/**
 * A non-2xx reply. Error bodies are relayed as sent unless they quote a credential (see
 * ../redact); a non-envelope one (a proxy's page) becomes an Anthropic envelope.
 */
function errorBody(call: UpstreamCall, status: number, raw: Buffer): { status: number; body: any; raw?: Buffer } {
  const clean = redactJson(raw, secretsOf(call.target));
  const body = parseJson(clean);
  if (body && !Array.isArray(body)) {
    if (body.type === 'error' && body.error && typeof body.error.type === 'string') return { status, body, raw: clean };
    const message = typeof body.error?.message === 'string' ? body.error.message : JSON.stringify(body).slice(0, 500);
    return { status, body: envelope(errorTypeForStatus(status), message, null) };
  }
  const snippet = clean.toString('utf8').replace(/\s+/g, ' ').trim().slice(0, 200);
  return { status, body: envelope(errorTypeForStatus(status), `${targetName(call.target)} returned HTTP ${status}${snippet ? `: ${snippet}` : ''}`, null) };
}

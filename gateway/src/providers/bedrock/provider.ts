import { envelope } from '../../core/errors';
import { RELAYED_HEADERS } from '../../core/upstream';
import { readCloudOptions } from '../cloud-options';
import { joinUrl, targetName } from '../http';
import { redact, redactHeaders, secretsOf } from '../redact';
import type { Provider } from '../translator';
import { bedrockErrorReply } from './errors';
import { countTokensPath, fromCountTokensResponse, invokePath, toBedrockBody, toCountTokensBody } from './request';
import { bedrockDecoder, BedrockStreamTranslator, type BedrockFrame } from './stream-translator';
import { authFor } from './target-auth';

export const EVENT_STREAM = 'application/vnd.amazon.eventstream';

/**
 * Claude on AWS Bedrock (InvokeModel): the Messages body with Bedrock's version and the allowed
 * betas in it, signed with SigV4 (or a Bedrock API key as Bearer); the stream comes back as AWS
 * binary event-stream frames, each wrapping one Anthropic event. See docs/providers/bedrock.md.
 */
export const bedrockProvider: Provider<undefined, BedrockFrame> = {
  request(call) {
    const { target } = call;
    const counting = call.endpoint === 'count_tokens';
    const stream = !counting && call.body.stream === true;
    // Betas travel in the body on Bedrock; unknown ones and refused fields are a 400 there.
    const invoke = toBedrockBody(call.body, call.clientHeaders['anthropic-beta'], readCloudOptions(target.options));
    return {
      url: joinUrl(target.baseURL, counting ? countTokensPath(target.model) : invokePath(target.model, stream)),
      headers: { 'content-type': 'application/json', accept: stream ? EVENT_STREAM : 'application/json' },
      body: JSON.stringify(counting ? toCountTokensBody(invoke) : invoke),
      state: undefined,
    };
  },

  // The credential is the signature over the final request: see sign.
  auth() {},

  async sign(req, call) {
    req.headers = await authFor(call.target).headers({ method: 'POST', url: req.url, headers: req.headers, body: req.body });
  },

  responseHeaders: relayed,

  response(body, _state, call, res) {
    if (call.endpoint === 'count_tokens') {
      const count = fromCountTokensResponse(body);
      if (count) return { status: 200, body: count };
    } else if (body.type === 'message' && Array.isArray(body.content)) {
      return { status: res.status, body };
    }
    const what = call.endpoint === 'count_tokens' ? 'a token count' : 'a Message';
    return {
      status: 502,
      body: envelope('api_error', redact(`${targetName(call.target)} answered HTTP ${res.status} with JSON that is not ${what}`, secretsOf(call.target)), null),
    };
  },

  errorReply(status, headers, raw, call) {
    return { headers: relayed(headers, secretsOf(call.target)), ...bedrockErrorReply(status, headers, raw, null, secretsOf(call.target), call.target.model) };
  },

  streamContentType: EVENT_STREAM,
  decoder: bedrockDecoder,
  streamTranslator: (_state, call) => new BedrockStreamTranslator(secretsOf(call.target), call.requestId),
};

/** Retry hints and AWS's request id (as upstream-request-id), redacted like any upstream text. */
function relayed(headers: Record<string, string>, secrets: readonly string[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of RELAYED_HEADERS) if (headers[k] !== undefined) out[k] = headers[k];
  if (headers['x-amzn-requestid']) out['upstream-request-id'] = headers['x-amzn-requestid'];
  return redactHeaders(out, secrets);
}

import { envelope } from '../../core/errors';
import { joinUrl } from '../http';
import { secretsOf } from '../redact';
import type { Provider } from '../translator';
import type { UpstreamCall } from '../../core/upstream';
import { errorReply } from './errors';
import { readOptions, type OpenAIOptions } from './options';
import { toChatRequest } from './request';
import { toMessage, type ReplyContext } from './response';
import { StreamTranslator, replayMessage } from './stream';
import { tokenCounter } from './token-counter';

interface State {
  opts: OpenAIOptions;
  ctx: ReplyContext;
}

/**
 * OpenAI-compatible upstreams (OpenAI, Azure OpenAI, vLLM, Ollama, llama.cpp, …): one Chat
 * Completions call per attempt. count_tokens never reaches the upstream (Chat Completions has no
 * such endpoint): tiktoken counts the translated request on a worker thread.
 */
export const openaiProvider: Provider<State> = {
  request(call) {
    const { target } = call;
    const opts = readOptions(target.options);
    const stream = call.endpoint === 'messages' && call.body.stream === true;
    const chat = toChatRequest(call.body, target.model, opts, stream);
    if (call.endpoint === 'count_tokens') return { local: tokenCounter.count(chat, opts).then((n) => ({ status: 200, body: { input_tokens: n } })) };
    const ctx: ReplyContext = { model: target.model, stops: Array.isArray(call.body.stop_sequences) ? call.body.stop_sequences : [] };
    return { url: chatURL(target.baseURL, target.model, opts), headers: baseHeaders(call, stream), body: JSON.stringify(chat), state: { opts, ctx } };
  },

  auth(call, headers, { opts }) {
    const key = call.target.apiKey;
    if (!key) return;
    if (opts.azure) headers['api-key'] = key;
    else headers.authorization = `Bearer ${key}`;
  },

  responseHeaders: (h): Record<string, string> => (h['x-request-id'] ? { 'upstream-request-id': h['x-request-id'] } : {}),

  response(completion, { ctx }, call) {
    if (!Array.isArray(completion?.choices) || completion.choices.length === 0) {
      return { status: 502, headers: {}, body: envelope('api_error', 'upstream returned a completion without choices', null) };
    }
    if (completion.choices.some((c: any) => c?.finish_reason === 'error' || c?.finish_reason === 'abort')) {
      return { status: 500, headers: {}, body: envelope('api_error', 'upstream stopped generating before finishing the answer', null) };
    }
    const message = toMessage(completion, ctx);
    return call.body.stream === true ? { events: replayMessage(message) } : { status: 200, body: message };
  },

  errorReply: (status, headers, raw, call) => errorReply(status, headers, raw, secretsOf(call.target)),

  streamTranslator: ({ ctx }, call) => new StreamTranslator(ctx, secretsOf(call.target)),
};

/**
 * The Chat Completions URL. Azure's dated API puts the deployment in the path and the version in
 * the query; its v1 API and everything else use `{baseURL}/chat/completions`, where baseURL
 * already ends in the version segment (`https://api.openai.com/v1`, `http://ollama:11434/v1`).
 */
export function chatURL(baseURL: string, model: string, opts: OpenAIOptions): string {
  if (opts.azureApiVersion)
    return `${joinUrl(baseURL, `/openai/deployments/${encodeURIComponent(model)}/chat/completions`)}?api-version=${encodeURIComponent(opts.azureApiVersion)}`;
  if (opts.azure && !/\/openai\/v1\/?$/.test(baseURL)) return joinUrl(baseURL, '/openai/v1/chat/completions');
  return joinUrl(baseURL, '/chat/completions');
}

function baseHeaders(call: UpstreamCall, stream: boolean): Record<string, string> {
  return {
    'content-type': 'application/json',
    accept: stream ? 'text/event-stream' : 'application/json',
    // OpenAI logs this id with the request, so support can find it from the gateway's request-id.
    'x-client-request-id': call.requestId,
  };
}

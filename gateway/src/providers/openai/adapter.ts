import { envelope } from '../../core/errors';
import { httpSend, joinUrl, readAll, toFailure, type UpstreamPools } from '../http';
import { secretsOf } from '../redact';
import type { ProviderAdapter, StreamEvent, UpstreamCall, UpstreamReply } from '../../core/upstream';
import { TranslationError, toErrorReply } from './errors';
import { readOptions, type OpenAIOptions } from './options';
import { toChatRequest } from './request';
import { toMessage, type ReplyContext } from './response';
import { ChunkTranslator, messageEvents, translateStream } from './stream';
import { tokenCounter } from './token-counter';

/**
 * OpenAI-compatible upstreams (OpenAI, Azure OpenAI, vLLM, Ollama, llama.cpp, …): translate the
 * Anthropic request, make the one Chat Completions call, translate the answer back. Everything
 * but the HTTP exchange lives in the pure translators beside this file.
 */
export function openaiAdapter(pools: UpstreamPools): ProviderAdapter {
  return {
    async send(call: UpstreamCall): Promise<UpstreamReply> {
      const { target } = call;
      const opts = readOptions(target.options);
      const stream = call.endpoint === 'messages' && call.body.stream === true;
      let chat: Record<string, any>;
      try {
        chat = toChatRequest(call.body, target.model, opts, stream);
      } catch (err) {
        if (err instanceof TranslationError) return { kind: 'json', status: 400, headers: {}, body: envelope('invalid_request_error', err.message, null) };
        throw err;
      }
      if (call.endpoint === 'count_tokens') return { kind: 'json', status: 200, headers: {}, body: { input_tokens: await tokenCounter.count(chat, opts) } };

      const res = await httpSend(pools, target, {
        url: chatURL(target.baseURL, target.model, opts),
        headers: upstreamHeaders(call, opts, stream),
        body: JSON.stringify(chat),
        signal: call.signal,
      });
      const ctx: ReplyContext = { model: target.model, stops: Array.isArray(call.body.stop_sequences) ? call.body.stop_sequences : [] };
      if (res.status >= 200 && res.status < 300 && stream && (res.headers['content-type'] ?? '').startsWith('text/event-stream')) {
        return { kind: 'sse', status: 200, headers: relayed(res.headers), events: guarded(translateStream(res.body, new ChunkTranslator(ctx, secretsOf(target)), pools.limits.maxEventBytes), call) };
      }
      const raw = await readAll(res, target, pools.limits.maxResponseBytes);
      if (res.status >= 300) return { kind: 'json', ...toErrorReply(res.status, res.headers, raw, secretsOf(target)) };
      let completion: any;
      try {
        completion = JSON.parse(raw.toString('utf8'));
      } catch {
        return { kind: 'json', status: 502, headers: {}, body: envelope('api_error', `upstream returned HTTP ${res.status} with a body that is not JSON`, null) };
      }
      if (!Array.isArray(completion?.choices) || completion.choices.length === 0) {
        return { kind: 'json', status: 502, headers: {}, body: envelope('api_error', 'upstream returned a completion without choices', null) };
      }
      if (completion.choices.some((c: any) => c?.finish_reason === 'error' || c?.finish_reason === 'abort')) {
        return { kind: 'json', status: 500, headers: {}, body: envelope('api_error', 'upstream stopped generating before finishing the answer', null) };
      }
      const message = toMessage(completion, ctx);
      // A server that ignored `stream: true` and answered with JSON still gets the client the stream it asked for.
      if (stream) return { kind: 'sse', status: 200, headers: relayed(res.headers), events: once(messageEvents(message)) };
      return { kind: 'json', status: 200, headers: relayed(res.headers), body: message };
    },
  };
}

/**
 * The Chat Completions URL. Azure's dated API puts the deployment in the path and the version in
 * the query; its v1 API and everything else use `{baseURL}/chat/completions`, where baseURL
 * already ends in the version segment (`https://api.openai.com/v1`, `http://ollama:11434/v1`).
 */
export function chatURL(baseURL: string, model: string, opts: OpenAIOptions): string {
  if (opts.azureApiVersion) return `${joinUrl(baseURL, `/openai/deployments/${encodeURIComponent(model)}/chat/completions`)}?api-version=${encodeURIComponent(opts.azureApiVersion)}`;
  if (opts.azure && !/\/openai\/v1\/?$/.test(baseURL)) return joinUrl(baseURL, '/openai/v1/chat/completions');
  return joinUrl(baseURL, '/chat/completions');
}

function upstreamHeaders(call: UpstreamCall, opts: OpenAIOptions, stream: boolean): Record<string, string> {
  const h: Record<string, string> = {
    'content-type': 'application/json',
    accept: stream ? 'text/event-stream' : 'application/json',
    // OpenAI logs this id with the request, so support can find it from the gateway's request-id.
    'x-client-request-id': call.requestId,
  };
  Object.assign(h, call.target.headers, call.extraHeaders);
  if (call.target.apiKey) {
    if (opts.azure) h['api-key'] = call.target.apiKey;
    else h.authorization = `Bearer ${call.target.apiKey}`;
  }
  return h;
}

function relayed(h: Record<string, string>): Record<string, string> {
  return h['x-request-id'] ? { 'upstream-request-id': h['x-request-id'] } : {};
}

async function* once(events: StreamEvent[]): AsyncGenerator<StreamEvent[]> {
  yield events;
}

/** Transport errors while reading the stream become UpstreamFailure, which the core turns into an error event. */
async function* guarded(events: AsyncGenerator<StreamEvent[]>, call: UpstreamCall): AsyncGenerator<StreamEvent[]> {
  try {
    yield* events;
  } catch (err) {
    throw toFailure(err, call.target);
  }
}

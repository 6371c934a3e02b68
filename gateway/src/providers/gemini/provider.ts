import { envelope } from '../../core/errors';
import { joinUrl } from '../http';
import { secretsOf } from '../redact';
import type { Provider } from '../translator';
import type { StreamEvent } from '../../core/upstream';
import { thinkingRequested } from './config';
import { errorReply } from './errors';
import { geminiOptions } from './options';
import { modelPath, toCountTokens, toGenerateContent } from './request';
import { toMessageReply } from './response';
import { StreamTranslator, type StreamContext } from './stream';

/**
 * Gemini (Generative Language API) upstreams: `:generateContent`, `:streamGenerateContent?alt=sse`
 * and `:countTokens` under the target's baseURL (default …/v1beta). The key goes in the
 * `x-goog-api-key` header, never in `?key=`, so no URL that might be logged carries it.
 */
export const geminiProvider: Provider<StreamContext> = {
  request(call) {
    const { target } = call;
    const ctx = { model: target.model, options: geminiOptions(target) };
    const counting = call.endpoint === 'count_tokens';
    const streaming = !counting && call.body.stream === true;
    const payload = counting ? toCountTokens(call.body, ctx) : toGenerateContent(call.body, ctx);
    const method = counting ? 'countTokens' : streaming ? 'streamGenerateContent' : 'generateContent';
    return {
      url: joinUrl(target.baseURL, `/${modelPath(target.model)}:${method}`) + (streaming ? '?alt=sse' : ''),
      headers: { 'content-type': 'application/json', accept: streaming ? 'text/event-stream' : 'application/json' },
      body: JSON.stringify(payload),
      state: { model: target.model, textSignatures: thinkingRequested(call.body), secrets: secretsOf(target), requestId: call.requestId },
    };
  },

  auth(call, headers) {
    if (call.target.apiKey) headers['x-goog-api-key'] = call.target.apiKey;
  },

  responseHeaders: () => ({}),

  response(body, state, call) {
    if (call.endpoint === 'count_tokens') return { status: 200, body: { input_tokens: typeof body.totalTokens === 'number' ? body.totalTokens : 0 } };
    const streaming = call.body.stream === true;
    // A 200 that is no generateContent response (a proxy's health JSON) is the upstream failing,
    // not an empty answer; a refusal has promptFeedback and no candidates, so both are looked for.
    const isResponse = Array.isArray(body?.candidates) || (body?.promptFeedback && typeof body.promptFeedback === 'object');
    if (!isResponse && !(streaming && Array.isArray(body)))
      return { status: 502, headers: {}, body: envelope('api_error', 'Gemini answered HTTP 200 with JSON that is not a generateContent response', null) };
    // Without `alt=sse` (a proxy that drops the query) streamGenerateContent answers one JSON
    // array of the chunks it would have streamed: the same chunks, translated as one batch.
    if (streaming) return { events: translateAll(body, new StreamTranslator(state)) };
    return { headers: {}, ...toMessageReply(body, state) };
  },

  errorReply: (status, headers, raw, call) => errorReply(status, headers, raw, secretsOf(call.target)),

  streamTranslator: (state) => new StreamTranslator(state),
};

/** A whole answer (an array of stream chunks, or one generateContent response) as one batch. */
function translateAll(body: unknown, t: StreamTranslator): StreamEvent[] {
  const chunks: unknown[] = Array.isArray(body) ? body : [body];
  const out: StreamEvent[] = [];
  for (const c of chunks) {
    if (t.done) break;
    out.push(
      ...t.chunk(c && typeof c === 'object' ? (c as any) : { error: { status: 'INTERNAL', message: 'Gemini sent a stream chunk that is not an object' } }),
    );
  }
  // One response object is complete by definition; an array may have been cut short like any stream.
  out.push(...t.end(!Array.isArray(body)));
  return out;
}

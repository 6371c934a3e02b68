import { envelope } from '../../core/errors';
import { readSse } from '../../core/sse';
import { httpSend, joinUrl, readAll, toFailure, type UpstreamPools } from '../http';
import { secretsOf } from '../redact';
import type { ProviderAdapter, StreamEvent, UpstreamCall, UpstreamReply } from '../../core/upstream';
import type { Target } from '../../core/routes';
import { thinkingRequested } from './config';
import { TranslationError, errorReply } from './errors';
import { geminiOptions } from './options';
import { modelPath, toCountTokens, toGenerateContent } from './request';
import { toMessageReply } from './response';
import { StreamTranslator } from './stream';

/**
 * Gemini (Generative Language API) upstreams: `:generateContent`, `:streamGenerateContent?alt=sse`
 * and `:countTokens` under the target's baseURL (default …/v1beta). The key goes in the
 * `x-goog-api-key` header, never in `?key=`, so no URL that might be logged carries it.
 */
export function geminiAdapter(pools: UpstreamPools): ProviderAdapter {
  return {
    async send(call: UpstreamCall): Promise<UpstreamReply> {
      const { target } = call;
      const ctx = { model: target.model, options: geminiOptions(target) };
      const counting = call.endpoint === 'count_tokens';
      const streaming = !counting && call.body.stream === true;
      let payload: unknown;
      try {
        payload = counting ? toCountTokens(call.body, ctx) : toGenerateContent(call.body, ctx);
      } catch (err) {
        if (err instanceof TranslationError) return { kind: 'json', status: 400, headers: {}, body: envelope('invalid_request_error', err.message, null) };
        throw err;
      }
      const method = counting ? 'countTokens' : streaming ? 'streamGenerateContent' : 'generateContent';
      const res = await httpSend(pools, target, {
        url: joinUrl(target.baseURL, `/${modelPath(target.model)}:${method}`) + (streaming ? '?alt=sse' : ''),
        headers: upstreamHeaders(call, streaming),
        body: JSON.stringify(payload),
        signal: call.signal,
      });
      if (res.status < 200 || res.status >= 300) return errorReply(res.status, await readAll(res, target, pools.limits.maxResponseBytes), res.headers, secretsOf(target));

      const sctx = { model: target.model, textSignatures: thinkingRequested(call.body), secrets: secretsOf(target), requestId: call.requestId };
      const sse = (res.headers['content-type'] ?? '').startsWith('text/event-stream');
      if (streaming && sse) return { kind: 'sse', status: 200, headers: {}, events: translate(res.body, new StreamTranslator(sctx), target, pools.limits.maxEventBytes) };
      const body = parseJson(await readAll(res, target, pools.limits.maxResponseBytes));
      // A 200 that is no generateContent response (a proxy's health JSON) is the upstream failing,
      // not an empty answer; a refusal has promptFeedback and no candidates, so both are looked for.
      const isResponse = (r: any) => Array.isArray(r?.candidates) || (r?.promptFeedback && typeof r.promptFeedback === 'object');
      const answerLike = body !== undefined && ((streaming && Array.isArray(body)) || isResponse(body));
      if (!counting && body !== undefined && !answerLike) return { kind: 'json', status: 502, headers: {}, body: envelope('api_error', 'Gemini answered HTTP 200 with JSON that is not a generateContent response', null) };
      // Without `alt=sse` (a proxy that drops the query) streamGenerateContent answers one JSON
      // array of the chunks it would have streamed: the same chunks, translated as one batch.
      if (streaming && body !== undefined) return { kind: 'sse', status: 200, headers: {}, events: translateAll(body, new StreamTranslator(sctx)) };
      if (body === undefined) return { kind: 'json', status: 502, headers: {}, body: envelope('api_error', 'Gemini returned a body that is not JSON', null) };
      if (counting) return { kind: 'json', status: 200, headers: {}, body: { input_tokens: typeof body.totalTokens === 'number' ? body.totalTokens : 0 } };
      return { kind: 'json', headers: {}, ...toMessageReply(body, sctx) };
    },
  };
}

function upstreamHeaders(call: UpstreamCall, streaming: boolean): Record<string, string> {
  const h: Record<string, string> = { 'content-type': 'application/json', accept: streaming ? 'text/event-stream' : 'application/json' };
  Object.assign(h, call.target.headers, call.extraHeaders);
  if (call.target.apiKey) h['x-goog-api-key'] = call.target.apiKey;
  return h;
}

/** Gemini SSE (`data:` lines only, CRLF framing, no [DONE]; the end is the connection closing) → event batches. */
async function* translate(body: AsyncIterable<Buffer>, t: StreamTranslator, target: Target, maxEventBytes: number): AsyncGenerator<StreamEvent[]> {
  try {
    for await (const batch of readSse(body, maxEventBytes)) {
      const out: StreamEvent[] = [];
      for (const ev of batch) {
        if (!ev.data) continue;
        const chunk = parseJson(Buffer.from(ev.data)) ?? { error: { status: 'INTERNAL', message: 'Gemini sent a stream chunk that is not JSON' } };
        out.push(...t.chunk(chunk));
        if (t.done) break;
      }
      if (out.length) yield out;
      if (t.done) return;
    }
  } catch (err) {
    throw toFailure(err, target);
  }
  const tail = t.end();
  if (tail.length) yield tail;
}

/** A whole answer (an array of stream chunks, or one generateContent response) as one batch. */
async function* translateAll(body: unknown, t: StreamTranslator): AsyncGenerator<StreamEvent[]> {
  const chunks: unknown[] = Array.isArray(body) ? body : [body];
  const out: StreamEvent[] = [];
  for (const c of chunks) {
    if (t.done) break;
    out.push(...t.chunk(c && typeof c === 'object' ? (c as any) : { error: { status: 'INTERNAL', message: 'Gemini sent a stream chunk that is not an object' } }));
  }
  // One response object is complete by definition; an array may have been cut short like any stream.
  out.push(...t.end(!Array.isArray(body)));
  yield out;
}

function parseJson(raw: Buffer): any {
  try {
    const v = JSON.parse(raw.toString('utf8'));
    return v && typeof v === 'object' ? v : undefined;
  } catch {
    return undefined;
  }
}

import type { IncomingMessage, ServerResponse } from 'node:http';
import { recordRequest, startServer, type RecordedRequest, type TestServer } from './http-server';
import { requestViolation } from './gemini-validate';
import { UPSTREAM_KEY } from './gateway';

/**
 * A fake Gemini API (Generative Language v1beta) speaking the real wire format:
 * `POST /v1beta/models/{model}:generateContent` (JSON), `:streamGenerateContent?alt=sse`
 * (`data: {…}` events framed with CRLF, no `event:` lines, no [DONE], the end is the connection
 * closing), `:countTokens`, and Google error bodies `{"error":{code,message,status,details}}`.
 * It checks the API key header and validates every body the way Gemini does (gemini-validate.ts),
 * answering 400 INVALID_ARGUMENT with Google's wording, and records every request.
 */
export interface GReceived extends RecordedRequest {
  model: string;
  action: string;
  query: URLSearchParams;
  /** The 400 message the fake answered with when it rejected the body. */
  rejected?: string;
}

export type GChunk = Record<string, any>;

export type GScript =
  /** Streams: each chunk is one `data:` event. generateContent: the chunks merged into one response. */
  | { kind: 'answer'; chunks: GChunk[]; delayMs?: number; cutAfter?: number }
  | { kind: 'error'; status: number; error: { code?: number; message: string; status: string; details?: unknown[] }; headers?: Record<string, string> }
  | { kind: 'raw'; status: number; headers: Record<string, string>; body: string }
  /** A stream body written as these exact pieces (to split events and CRLFs across network chunks). */
  | { kind: 'pieces'; pieces: string[]; delayMs?: number }
  | { kind: 'count'; totalTokens: number }
  | { kind: 'hang' };

export interface FakeGemini extends TestServer {
  received: GReceived[];
  queue: GScript[];
  fallback: (r: GReceived) => GScript;
  /** Every thoughtSignature this server has sent; replays of anything else are rejected. */
  issued: Set<string>;
  /** Models that enforce thought signatures on the current turn (Gemini 3 behaviour). */
  enforceSignatures: (model: string) => boolean;
  last(): GReceived;
}

export function googleError(code: number, status: string, message: string, details?: unknown[]) {
  return { code, message, status, ...(details ? { details } : {}) };
}

/** A text answer in two chunks, the usual shape of a short Gemini stream. */
export function textChunks(text: string, opts: { model?: string; responseId?: string } = {}): GChunk[] {
  const cut = Math.ceil(text.length / 2);
  const meta = { modelVersion: opts.model ?? 'gemini-2.5-flash', responseId: opts.responseId ?? 'resp-text-1' };
  return [
    {
      candidates: [{ content: { role: 'model', parts: [{ text: text.slice(0, cut) }] }, index: 0 }],
      usageMetadata: { promptTokenCount: 9, totalTokenCount: 9 },
      ...meta,
    },
    {
      candidates: [{ content: { role: 'model', parts: [{ text: text.slice(cut) }] }, finishReason: 'STOP', index: 0 }],
      usageMetadata: { promptTokenCount: 9, candidatesTokenCount: 5, totalTokenCount: 14 },
      ...meta,
    },
  ];
}

/**
 * What generateContent returns for the same answer a stream gives in chunks: the parts
 * concatenated (adjacent text of the same kind joined, as Gemini does), the last finishReason,
 * usage and metadata.
 */
export function mergeChunks(chunks: GChunk[]): GChunk {
  const parts: any[] = [];
  let finishReason: string | undefined;
  let finishMessage: string | undefined;
  const out: GChunk = {};
  for (const c of chunks) {
    const cand = c.candidates?.[0];
    for (const p of cand?.content?.parts ?? []) {
      const last = parts[parts.length - 1];
      const joinable = last && typeof last.text === 'string' && typeof p.text === 'string' && !!last.thought === !!p.thought && !last.thoughtSignature;
      if (joinable) {
        last.text += p.text;
        if (p.thoughtSignature) last.thoughtSignature = p.thoughtSignature;
      } else parts.push({ ...p });
    }
    if (cand?.finishReason) finishReason = cand.finishReason;
    if (cand?.finishMessage) finishMessage = cand.finishMessage;
    for (const k of ['usageMetadata', 'modelVersion', 'responseId', 'promptFeedback']) if (c[k] !== undefined) out[k] = c[k];
  }
  const kept = parts.filter((p) => p.text !== '' || p.thoughtSignature);
  if (kept.length || finishReason) {
    out.candidates = [
      { content: { role: 'model', parts: kept }, ...(finishReason ? { finishReason } : {}), ...(finishMessage ? { finishMessage } : {}), index: 0 },
    ];
  }
  return out;
}

export async function startFakeGemini(opts: { apiKey?: string } = {}): Promise<FakeGemini> {
  const apiKey = opts.apiKey ?? UPSTREAM_KEY;
  const received: GReceived[] = [];
  const fake = {
    received,
    queue: [] as GScript[],
    issued: new Set<string>(),
    enforceSignatures: (model: string) => /gemini-3/.test(model),
    fallback: (r: GReceived): GScript =>
      r.action === 'countTokens' ? { kind: 'count', totalTokens: 17 } : { kind: 'answer', chunks: textChunks('Hello from Gemini', { model: r.model }) },
    last: () => received[received.length - 1],
  } as FakeGemini;

  const srv = await startServer(async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url!, 'http://fake');
    const m = /^\/v1beta\/models\/([^/:]+):(\w+)$/.exec(url.pathname);
    const rec: GReceived = { ...(await recordRequest(req, res)), model: m?.[1] ?? '', action: m?.[2] ?? '', query: url.searchParams };
    const body = rec.body;
    received.push(rec);
    const fail = (code: number, status: string, message: string, details?: unknown[]) => {
      res.writeHead(code, { 'content-type': 'application/json; charset=UTF-8' });
      res.end(JSON.stringify({ error: googleError(code, status, message, details) }));
    };
    if (!m || req.method !== 'POST') return fail(404, 'NOT_FOUND', `The requested URL ${url.pathname} was not found on this server.`);
    if (req.headers['x-goog-api-key'] !== apiKey) {
      return fail(400, 'INVALID_ARGUMENT', 'API key not valid. Please pass a valid API key.', [
        { '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'API_KEY_INVALID', domain: 'googleapis.com' },
      ]);
    }
    const check = { issued: fake.issued, enforce: fake.enforceSignatures(rec.model) };
    let rejected: string | undefined;
    if (rec.action === 'countTokens') {
      const inner = body?.generateContentRequest;
      if (!inner || body.contents !== undefined) rejected = 'countTokens: send either contents or generateContentRequest';
      else if (inner.model !== `models/${rec.model}`) rejected = `* CountTokensRequest.generate_content_request.model: must be models/${rec.model}`;
      else {
        const { model: _model, ...rest } = inner;
        rejected = requestViolation(rest, check);
      }
    } else if (rec.action === 'generateContent' || rec.action === 'streamGenerateContent') {
      rejected = requestViolation(body, check);
    } else return fail(404, 'NOT_FOUND', `Unknown method ${rec.action}`);
    if (rejected) {
      rec.rejected = rejected;
      return fail(400, 'INVALID_ARGUMENT', rejected);
    }
    const script = fake.queue.shift() ?? fake.fallback(rec);
    await play(script, rec, res, fake.issued);
  });
  return Object.assign(fake, srv);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function remember(chunks: GChunk[], issued: Set<string>): void {
  for (const c of chunks) for (const p of c.candidates?.[0]?.content?.parts ?? []) if (p.thoughtSignature) issued.add(p.thoughtSignature);
}

/** Writes one scripted reply in Gemini's wire format (fake-vertex.ts plays Gemini-on-Vertex replies with it too). */
export async function play(s: GScript, rec: GReceived, res: ServerResponse, issued: Set<string>): Promise<void> {
  const json = (status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', ...headers });
    res.end(JSON.stringify(body));
  };
  switch (s.kind) {
    case 'count':
      return json(200, { totalTokens: s.totalTokens, promptTokensDetails: [{ modality: 'TEXT', tokenCount: s.totalTokens }] });
    case 'error':
      return json(s.status, { error: { code: s.error.code ?? s.status, ...s.error } }, s.headers);
    case 'raw':
      res.writeHead(s.status, s.headers);
      return void res.end(s.body);
    case 'hang':
      return;
    case 'pieces':
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (const piece of s.pieces) {
        if (res.destroyed) return;
        res.write(piece);
        await sleep(s.delayMs ?? 5);
      }
      return void res.end();
    case 'answer': {
      remember(s.chunks, issued);
      if (rec.action !== 'streamGenerateContent') return json(200, mergeChunks(s.chunks));
      if (rec.query.get('alt') !== 'sse') return json(200, s.chunks); // the JSON-array form
      res.writeHead(200, { 'content-type': 'text/event-stream', 'x-content-type-options': 'nosniff' });
      res.flushHeaders();
      for (let i = 0; i < s.chunks.length; i++) {
        if (res.destroyed) return;
        if (s.cutAfter !== undefined && i === s.cutAfter) return void res.destroy();
        res.write(`data: ${JSON.stringify(s.chunks[i])}\r\n\r\n`);
        if (s.delayMs) await sleep(s.delayMs);
      }
      return void res.end();
    }
  }
}

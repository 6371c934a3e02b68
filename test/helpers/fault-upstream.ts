import type { IncomingMessage, ServerResponse } from 'node:http';
import { textMessage, textStream } from './fake-anthropic';
import { chunksOf, completionOf } from './fake-openai';
import { googleError, mergeChunks, textChunks } from './fake-gemini';
import { recordRequest, sleep, startServer, type RecordedRequest, type TestServer } from './http-server';
import { FLOOD_HEAD, flood as floodBytes } from './flood-upstream';
import { chunkFrame, chunkFrameOf, exceptionFrame } from './bedrock-frames';

/**
 * One fault-injecting upstream that speaks every provider's wire format (Anthropic Messages,
 * OpenAI Chat Completions, Gemini generateContent), so one fault table can hold every provider to
 * the same faults. A fault is a function of the request and a `Wire`: the provider's own
 * spelling of a good stream head, a whole answer, an error body, a mid-stream error, and the
 * credential the gateway sent (so echoes are the real thing). It plays on every request until
 * changed, so retries meet the same fault.
 */
/** `vertex` is Claude on Vertex AI; `vertex-gemini` a vertex target serving a Gemini model (publisher google). */
export type Provider = 'anthropic' | 'openai' | 'gemini' | 'bedrock' | 'vertex' | 'vertex-gemini';
export const PROVIDERS: Provider[] = ['anthropic', 'openai', 'gemini', 'bedrock', 'vertex', 'vertex-gemini'];

export interface FaultRequest extends RecordedRequest {
  provider: Provider;
  stream: boolean;
}

export interface Wire {
  provider: Provider;
  /** The credential the gateway sent this request with (x-api-key, Bearer token or x-goog-api-key). */
  key: string;
  /** The first events of a good text stream, as SSE bytes (message_start and a first delta, or their equivalent). */
  streamHead(): string;
  /** The rest of that stream, to its proper end. */
  streamTail(): string;
  /** A whole successful non-stream answer (JSON text). */
  answer(): string;
  /** The provider's JSON error body for `status` carrying `message`. */
  errorBody(status: number, message: string): string;
  /** A mid-stream error event carrying `message`, as SSE bytes. */
  streamError(message: string): string;
  /** An event that cannot be parsed (its JSON cut off), as SSE bytes. */
  malformedEvent(): string;
  /** Bytes that keep the stream alive and end nothing; unset: an SSE comment line. */
  keepalive?(): string;
}

export type Fault = (req: FaultRequest, res: ServerResponse, wire: Wire) => void | Promise<void>;

export interface FaultUpstream extends TestServer {
  received: FaultRequest[];
  fault: Fault;
  /** The baseURL a target of `provider` uses to reach this server. */
  baseURL(provider: Provider): string;
}

export const sse = {
  head: (res: ServerResponse, status = 200) => {
    res.writeHead(status, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.flushHeaders();
  },
  json: (res: ServerResponse, status: number, body: string, contentType = 'application/json') => {
    res.writeHead(status, { 'content-type': contentType });
    res.end(body);
  },
};

/** The socket dies without an HTTP answer, or with whatever was written so far. */
export const reset = (res: ServerResponse) => void res.socket?.resetAndDestroy();

/**
 * Oversized replies, through flood-upstream's writer (backpressure honoured, stops when the reader
 * hangs up): `event` is the provider's text delta whose text never ends, `json` a JSON reply
 * whose string never ends. `bytes` of filler follow the head.
 */
export const flood = {
  // Vertex streams its publisher's events.
  event: (res: ServerResponse, w: Wire, bytes: number) =>
    floodBytes(
      res,
      w.provider === 'bedrock'
        ? BEDROCK_FLOOD_HEAD
        : Buffer.from(FLOOD_HEAD[w.provider === 'vertex' ? 'anthropic' : w.provider === 'vertex-gemini' ? 'gemini' : w.provider]),
      bytes,
      { written: 0 },
    ),
  json: (res: ServerResponse, bytes: number) => floodBytes(res, Buffer.from('{"id":"x","text":"'), bytes, { written: 0 }),
};

/** Sends `text` one piece every `everyMs` until done or the reader hangs up: each piece resets an idle timer, none ends the exchange. */
export async function trickle(res: ServerResponse, pieces: string[], everyMs: number): Promise<void> {
  for (const p of pieces) {
    if (res.destroyed) return;
    await send(res, p);
    await sleep(everyMs);
  }
  if (!res.destroyed) res.end();
}

/** Writes then waits until the bytes have left, so the next step (a reset, a hang) happens after they arrived. */
export const send = (res: ServerResponse, text: string) => new Promise<void>((resolve) => res.write(text, () => resolve()));

export const MODEL = 'upstream-model';

/** `n` pieces of keep-alive in the wire's own spelling (each resets an idle timer, none ends the stream). */
export const keepalives = (w: Wire, n: number) => Array.from({ length: n }, () => w.keepalive?.() ?? ':\n\n');

/** Target fields a provider requires besides the table's own (the cloud providers' region). */
/**
 * Bedrock's wire is binary (AWS event-stream frames), the table's rows write text: the bedrock
 * Wire spells frames as latin1 strings, and a bedrock reply writes every string back as those
 * bytes, with Bedrock's stream content type where a row asked for SSE.
 */
const binary = (frames: Buffer[]) => Buffer.concat(frames).toString('latin1');

/** A frame prelude announcing a frame of ~2 GB (bytes below 0x80, so it survives any text encoding); the filler follows. */
const BEDROCK_FLOOD_HEAD = Buffer.from([0x7f, 0, 0, 0, 0, 0, 0, 0x20, 0, 0, 0, 0]);

function speakEventStream(res: ServerResponse): void {
  const writeHead = res.writeHead.bind(res) as (...a: any[]) => ServerResponse;
  res.writeHead = ((status: number, ...rest: any[]) =>
    writeHead(
      status,
      ...rest.map((h) =>
        h && typeof h === 'object' && String(h['content-type']).startsWith('text/event-stream')
          ? { ...h, 'content-type': 'application/vnd.amazon.eventstream' }
          : h,
      ),
    )) as any;
  const bytes = (c: unknown) => (typeof c === 'string' ? Buffer.from(c, 'latin1') : c);
  const write = res.write.bind(res) as (...a: any[]) => boolean;
  res.write = ((c: unknown, ...rest: any[]) => write(bytes(c), ...rest)) as any;
  const end = res.end.bind(res) as (...a: any[]) => ServerResponse;
  res.end = ((c?: unknown, ...rest: any[]) => (c === undefined || typeof c === 'function' ? end(c, ...rest) : end(bytes(c), ...rest))) as any;
}

function wireFor(provider: Provider, key: string): Wire {
  const ev = (name: string, data: unknown) => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
  const data = (obj: unknown) => `data: ${JSON.stringify(obj)}\n\n`;
  switch (provider) {
    case 'anthropic': {
      const events = textStream(MODEL, ['Hel', 'lo']);
      const headEnd = events.findIndex(([n]) => n === 'content_block_delta') + 1;
      return {
        provider,
        key,
        streamHead: () =>
          events
            .slice(0, headEnd)
            .map(([n, d]) => ev(n, d))
            .join(''),
        streamTail: () =>
          events
            .slice(headEnd)
            .map(([n, d]) => ev(n, d))
            .join(''),
        answer: () => JSON.stringify(textMessage(MODEL, 'Hello')),
        errorBody: (status, message) =>
          JSON.stringify({
            type: 'error',
            error: { type: status === 401 ? 'authentication_error' : status === 429 ? 'rate_limit_error' : 'api_error', message },
            request_id: 'req_upstream',
          }),
        streamError: (message) => ev('error', { type: 'error', error: { type: 'api_error', message } }),
        malformedEvent: () => 'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"lo\n\n',
      };
    }
    case 'openai': {
      const chunks = chunksOf({ content: 'Hello', pieces: 2 }, MODEL);
      return {
        provider,
        key,
        streamHead: () => chunks.slice(0, 2).map(data).join(''),
        streamTail: () => chunks.slice(2).map(data).join('') + 'data: [DONE]\n\n',
        answer: () => JSON.stringify(completionOf({ content: 'Hello' }, MODEL)),
        errorBody: (status, message) =>
          JSON.stringify({
            error: { message, type: status === 401 ? 'invalid_request_error' : 'server_error', code: status === 401 ? 'invalid_api_key' : null },
          }),
        streamError: (message) => data({ error: { message, type: 'server_error' } }),
        malformedEvent: () => 'data: {"choices":[{"index":0,"delta":{"content":"lo\n\n',
      };
    }
    // Claude on Vertex speaks Anthropic's JSON, SSE and error envelopes; only the URL and the bearer differ.
    case 'vertex':
      return { ...wireFor('anthropic', key), provider };
    case 'vertex-gemini':
      return { ...wireFor('gemini', key), provider };
    case 'bedrock': {
      const events = textStream(MODEL, ['Hel', 'lo'])
        .map(([, d]) => d as Record<string, unknown>)
        .filter((d) => d.type !== 'ping');
      const headEnd = events.findIndex((d) => d.type === 'content_block_delta') + 1;
      const last = events.length - 1;
      events[last] = {
        ...events[last],
        'amazon-bedrock-invocationMetrics': { inputTokenCount: 12, outputTokenCount: 6, invocationLatency: 10, firstByteLatency: 5 },
      };
      return {
        provider,
        key,
        streamHead: () => binary(events.slice(0, headEnd).map(chunkFrame)),
        streamTail: () => binary(events.slice(headEnd).map(chunkFrame)),
        answer: () => JSON.stringify(textMessage(MODEL, 'Hello')),
        errorBody: (_status, message) => JSON.stringify({ message }),
        streamError: (message) => binary([exceptionFrame('internalServerException', message)]),
        malformedEvent: () => binary([chunkFrameOf('{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"lo')]),
        // The event stream has no comments: an empty text delta is what carries nothing.
        keepalive: () => binary([chunkFrame({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: '' } })]),
      };
    }
    case 'gemini': {
      const chunks = textChunks('Hello', { model: MODEL });
      return {
        provider,
        key,
        streamHead: () => chunks.slice(0, 1).map(data).join(''),
        streamTail: () => chunks.slice(1).map(data).join(''),
        answer: () => JSON.stringify(mergeChunks(chunks)),
        errorBody: (status, message) =>
          JSON.stringify({
            error:
              status === 401
                ? googleError(400, 'INVALID_ARGUMENT', message, [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'API_KEY_INVALID' }])
                : googleError(status, status === 429 ? 'RESOURCE_EXHAUSTED' : 'INTERNAL', message),
          }),
        streamError: (message) => data({ error: googleError(500, 'INTERNAL', message) }),
        malformedEvent: () => 'data: {"candidates":[{"content":{"parts":[{"text":"lo\n\n',
      };
    }
  }
}

function classify(req: RecordedRequest): { provider: Provider; stream: boolean; key: string } {
  const h = req.headers;
  if (req.path.includes(':generateContent') || req.path.includes(':streamGenerateContent')) {
    return { provider: 'gemini', stream: req.path.includes(':streamGenerateContent'), key: String(h['x-goog-api-key'] ?? '') };
  }
  if (/\/publishers\/google\/models\/[^/:]+:(generateContent|streamGenerateContent)/.test(req.path)) {
    return { provider: 'vertex-gemini', stream: req.path.includes(':streamGenerateContent'), key: String(h.authorization ?? '').replace(/^Bearer /, '') };
  }
  if (/:(rawPredict|streamRawPredict)$/.test(req.path)) {
    return { provider: 'vertex', stream: req.path.endsWith(':streamRawPredict'), key: String(h.authorization ?? '').replace(/^Bearer /, '') };
  }
  if (req.path.startsWith('/model/')) {
    return { provider: 'bedrock', stream: req.path.endsWith('/invoke-with-response-stream'), key: String(h.authorization ?? '').replace(/^Bearer /, '') };
  }
  if (req.path.includes('/chat/completions')) {
    return { provider: 'openai', stream: req.body?.stream === true, key: String(h.authorization ?? '').replace(/^Bearer /, '') };
  }
  return { provider: 'anthropic', stream: req.body?.stream === true, key: String(h['x-api-key'] ?? '') };
}

/** A whole, good answer in the request's own format: what `fault` does until a test sets one. */
export const healthy: Fault = async (req, res, w) => {
  if (!req.stream) return sse.json(res, 200, w.answer());
  sse.head(res);
  res.end(w.streamHead() + w.streamTail());
};

export async function startFaultUpstream(): Promise<FaultUpstream> {
  const up = { received: [] as FaultRequest[], fault: healthy } as FaultUpstream;
  const srv = await startServer(async (req: IncomingMessage, res: ServerResponse) => {
    const rec = await recordRequest(req, res);
    const { provider, stream, key } = classify(rec);
    const fr: FaultRequest = { ...rec, provider, stream };
    up.received.push(fr);
    if (provider === 'bedrock') speakEventStream(res);
    await up.fault(fr, res, wireFor(provider, key));
  });
  return Object.assign(up, srv, {
    baseURL: (p: Provider) =>
      p === 'anthropic' || p === 'bedrock' ? srv.url : p === 'openai' || p === 'vertex' || p === 'vertex-gemini' ? `${srv.url}/v1` : `${srv.url}/v1beta`,
  });
}

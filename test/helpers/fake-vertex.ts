import type { ServerResponse } from 'node:http';
import { readRequestBody, startServer, type TestServer } from './http-server';

/**
 * A loopback Vertex AI: checks the bearer token, then answers Claude's rawPredict /
 * streamRawPredict (Anthropic JSON and SSE) / count-tokens:rawPredict and Gemini's
 * generateContent / streamGenerateContent?alt=sse on the publisher paths, refusing a wrong
 * token with Google's error shape.
 */
export interface VertexCall {
  path: string;
  publisher: string;
  model: string;
  method: string;
  body: any;
  headers: Record<string, string | string[] | undefined>;
}

export interface FakeVertex extends TestServer {
  calls: VertexCall[];
}

const PATH = /^\/v1\/projects\/([^/]+)\/locations\/([^/]+)\/publishers\/(anthropic|google)\/models\/([^/:]+):([A-Za-z]+)(\?.*)?$/;

export async function startFakeVertex(opts: { tokens: string[]; project: string; region: string }): Promise<FakeVertex> {
  const calls: VertexCall[] = [];
  const server = await startServer(async (req, res) => {
    const raw = await readRequestBody(req);
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (!token || !opts.tokens.includes(token)) {
      return googleError(res, 401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials. Expected OAuth 2 access token.');
    }
    const m = PATH.exec(req.url ?? '');
    if (!m || m[1] !== opts.project || m[2] !== opts.region) return googleError(res, 404, 'NOT_FOUND', `Publisher model ${req.url} not found.`);
    const [, , , publisher, model, method] = m;
    let body: any;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      return googleError(res, 400, 'INVALID_ARGUMENT', 'Invalid JSON payload received.');
    }
    calls.push({ path: req.url!, publisher, model: decodeURIComponent(model), method, body, headers: req.headers });
    if (publisher === 'anthropic') return claude(res, model, method, body);
    return gemini(res, method);
  });
  return { ...server, calls };
}

function claude(res: ServerResponse, model: string, method: string, body: any): void {
  if (body.anthropic_version !== 'vertex-2023-10-16') return anthropicError(res, 400, 'anthropic_version: vertex-2023-10-16 is required');
  if (model === 'count-tokens' && method === 'rawPredict') {
    if (typeof body.model !== 'string') return anthropicError(res, 400, 'model: Field required');
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ input_tokens: JSON.stringify(body.messages).length }));
    return;
  }
  if (body.model !== undefined) return anthropicError(res, 400, 'model: Extra inputs are not permitted');
  const message = {
    id: 'msg_vrtx_01',
    type: 'message',
    role: 'assistant',
    model: decodeURIComponent(model),
    content: [{ type: 'text', text: 'Hello from Vertex' }],
    stop_reason: 'end_turn',
    stop_sequence: null,
    usage: { input_tokens: 9, output_tokens: 4 },
  };
  if (method === 'rawPredict') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(message));
  } else if (method === 'streamRawPredict') {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const ev = (type: string, data: object) => res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
    ev('message_start', { message: { ...message, content: [], stop_reason: null, usage: { input_tokens: 9, output_tokens: 1 } } });
    ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } });
    ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'Hello from Vertex' } });
    ev('content_block_stop', { index: 0 });
    ev('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 4 } });
    ev('message_stop', {});
    res.end();
  } else {
    googleError(res, 400, 'INVALID_ARGUMENT', `unknown method ${method}`);
  }
}

function gemini(res: ServerResponse, method: string): void {
  const chunk = {
    candidates: [{ content: { role: 'model', parts: [{ text: 'Hello from Gemini on Vertex' }] }, finishReason: 'STOP' }],
    usageMetadata: { promptTokenCount: 5, candidatesTokenCount: 6, totalTokenCount: 11 },
  };
  if (method === 'generateContent') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(chunk));
  } else if (method === 'streamGenerateContent') {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.end(`data: ${JSON.stringify(chunk)}\r\n\r\n`);
  } else if (method === 'countTokens') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ totalTokens: 5 }));
  } else {
    googleError(res, 400, 'INVALID_ARGUMENT', `unknown method ${method}`);
  }
}

export function googleError(res: ServerResponse, code: number, status: string, message: string): void {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ error: { code, message, status } }));
}

function anthropicError(res: ServerResponse, status: number, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ type: 'error', error: { type: 'invalid_request_error', message } }));
}

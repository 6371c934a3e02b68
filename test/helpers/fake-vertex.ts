import type { ServerResponse } from 'node:http';
import { play as playClaude, textStream, type Script } from './fake-anthropic';
import { play as playGemini, textChunks, type GReceived, type GScript } from './fake-gemini';
import { requestViolation } from './gemini-validate';
import { recordRequest, startServer, type RecordedRequest, type TestServer } from './http-server';

/**
 * A loopback Vertex AI: checks the bearer token, then answers Claude's rawPredict /
 * streamRawPredict (Anthropic JSON and SSE) / count-tokens:rawPredict and Gemini's
 * generateContent / streamGenerateContent?alt=sse / countTokens on the publisher paths, refusing a
 * wrong token with Google's error shape. Like Vertex it refuses what it does not know with 400: an
 * `anthropic-beta` value outside its list (any beta at all on count-tokens), fields it does not
 * take (`output_format`, `cache_control.scope`), a Gemini body Gemini would refuse. Replies are
 * scripted with the fake Anthropic's and fake Gemini's scripts.
 */
export interface VertexCall extends RecordedRequest {
  publisher: string;
  model: string;
  method: string;
  /** The 400 message the fake answered with when it refused the request. */
  rejected?: string;
}

export type VertexScript = { publisher: 'anthropic'; script: Script } | { publisher: 'google'; script: GScript };

export interface FakeVertex extends TestServer {
  calls: VertexCall[];
  /** Bearer tokens it accepts; tests may change it (a revoked token). */
  tokens: string[];
  /** Replies used in order for the matching publisher; when none is queued, the fallbacks answer. */
  queue: VertexScript[];
  claudeFallback: (c: VertexCall) => Script;
  geminiFallback: (c: VertexCall) => GScript;
}

/** Betas Vertex accepts on rawPredict, as its error messages and Google's docs show them. */
export const VERTEX_KNOWN_BETAS = [
  'interleaved-thinking-2025-05-14',
  'context-management-2025-06-27',
  'context-1m-2025-08-07',
  'computer-use-2025-01-24',
  'computer-use-2025-11-24',
  'tool-search-tool-2025-10-19',
  'web-search-2025-03-05',
  'compact-2026-01-12',
];

const PATH = /^\/v1\/projects\/([^/]+)\/locations\/([^/]+)\/publishers\/(anthropic|google)\/models\/([^/:]+):([A-Za-z]+)(\?.*)?$/;

export async function startFakeVertex(opts: { tokens: string[]; project: string; region: string }): Promise<FakeVertex> {
  const fake = {
    calls: [] as VertexCall[],
    tokens: opts.tokens,
    queue: [] as VertexScript[],
    claudeFallback: (c: VertexCall): Script =>
      c.model === 'count-tokens'
        ? { kind: 'count', input_tokens: JSON.stringify(c.body.messages).length }
        : c.method === 'streamRawPredict'
          ? { kind: 'stream', events: textStream(c.model, ['Hello from Vertex'], { input_tokens: 9, output_tokens: 4 }) }
          : {
              kind: 'message',
              message: { id: 'msg_vrtx_01', content: [{ type: 'text', text: 'Hello from Vertex' }], usage: { input_tokens: 9, output_tokens: 4 } },
            },
    geminiFallback: (c: VertexCall): GScript =>
      c.method === 'countTokens'
        ? { kind: 'count', totalTokens: 5 }
        : { kind: 'answer', chunks: textChunks('Hello from Gemini on Vertex', { model: c.model }) },
  } as FakeVertex;
  const server = await startServer(async (req, res) => {
    const rec = await recordRequest(req, res);
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (!token || !fake.tokens.includes(token)) {
      return googleError(res, 401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials. Expected OAuth 2 access token.');
    }
    const m = PATH.exec(req.url ?? '');
    if (!m || m[1] !== opts.project || m[2] !== opts.region) return googleError(res, 404, 'NOT_FOUND', `Publisher model ${req.url} not found.`);
    const [, , , publisher, model, method] = m;
    if (rec.body === undefined) return googleError(res, 400, 'INVALID_ARGUMENT', 'Invalid JSON payload received.');
    const call: VertexCall = { ...rec, publisher, model: decodeURIComponent(model), method };
    fake.calls.push(call);
    const i = fake.queue.findIndex((q) => q.publisher === publisher);
    const queued = i >= 0 ? fake.queue.splice(i, 1)[0].script : undefined;
    if (publisher === 'anthropic') {
      call.rejected = claudeViolation(call);
      if (call.rejected) return anthropicError(res, 400, call.rejected);
      return playClaude(
        (queued as Script) ?? fake.claudeFallback(call),
        { ...rec, body: { ...rec.body, model: call.model } },
        res,
        `req_vrtx_${fake.calls.length}`,
      );
    }
    call.rejected = geminiViolation(call);
    if (call.rejected) return googleError(res, 400, 'INVALID_ARGUMENT', call.rejected);
    const g: GReceived = { ...rec, model: call.model, action: method, query: new URL(req.url!, 'http://fake').searchParams };
    return playGemini((queued as GScript) ?? fake.geminiFallback(call), g, res, new Set());
  });
  return Object.assign(fake, server);
}

function claudeViolation(c: VertexCall): string | undefined {
  const { body } = c;
  if (body.anthropic_version !== 'vertex-2023-10-16') return 'anthropic_version: vertex-2023-10-16 is required';
  const counting = c.model === 'count-tokens';
  if (counting ? c.method !== 'rawPredict' : c.method !== 'rawPredict' && c.method !== 'streamRawPredict') return `unknown method ${c.method}`;
  if (counting && typeof body.model !== 'string') return 'model: Field required';
  if (!counting && body.model !== undefined) return 'model: Extra inputs are not permitted';
  const betas = String(c.headers['anthropic-beta'] ?? '')
    .split(',')
    .map((b) => b.trim())
    .filter(Boolean);
  const unknown = counting ? betas : betas.filter((b) => !VERTEX_KNOWN_BETAS.includes(b));
  if (unknown.length)
    return `Unexpected value(s) ${unknown.map((b) => `\`${b}\``).join(', ')} for the \`anthropic-beta\` header. Please consult our documentation at docs.anthropic.com or try again without the header.`;
  if (body.output_format !== undefined) return 'output_format: Extra inputs are not permitted';
  const scoped = findScope(body);
  if (scoped) return `${scoped}.scope: Extra inputs are not permitted`;
  return undefined;
}

/** The path of the first `cache_control` carrying a `scope`, anywhere in the body. */
function findScope(node: unknown, path = ''): string | undefined {
  if (!node || typeof node !== 'object') return undefined;
  for (const [k, v] of Object.entries(node)) {
    const here = path ? `${path}.${k}` : k;
    if (k === 'cache_control' && v && typeof v === 'object' && 'scope' in v) return here;
    const found = findScope(v, here);
    if (found) return found;
  }
  return undefined;
}

function geminiViolation(c: VertexCall): string | undefined {
  const check = { issued: new Set<string>(), enforce: false };
  if (c.method === 'countTokens') {
    if (c.body.generateContentRequest !== undefined) return 'Invalid JSON payload received. Unknown name "generateContentRequest": Cannot find field.';
    return requestViolation(c.body, check);
  }
  if (c.method === 'generateContent' || c.method === 'streamGenerateContent') return requestViolation(c.body, check);
  return `unknown method ${c.method}`;
}

export function googleError(res: ServerResponse, code: number, status: string, message: string): void {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ error: { code, message, status } }));
}

function anthropicError(res: ServerResponse, status: number, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ type: 'error', error: { type: 'invalid_request_error', message } }));
}

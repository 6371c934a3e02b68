import type { IncomingMessage, ServerResponse } from 'node:http';
import { recordRequest, sleep, startServer, type RecordedRequest, type TestServer } from './http-server';

/**
 * A fake OpenAI-compatible server speaking the real Chat Completions wire format: JSON
 * completions, `data: {chunk}` SSE with tool-call argument fragments and a usage chunk before
 * `data: [DONE]`, OpenAI error bodies with retry-after. It records every request, and a test
 * scripts its replies. An `answer` renders as JSON or as a stream depending on the request, so
 * one scripted answer can be compared across both.
 */
export type OpenAIReceived = RecordedRequest;

export interface Answer {
  id?: string;
  model?: string;
  content?: string | null;
  reasoning?: string;
  /** The field reasoning goes in: vLLM/Ollama `reasoning`, DeepSeek/llama.cpp `reasoning_content`. */
  reasoningField?: 'reasoning' | 'reasoning_content';
  tool_calls?: Array<{ id: string; name: string; arguments: string }>;
  finish_reason?: string;
  usage?: Record<string, unknown>;
  /** How many pieces streamed text and arguments are cut into. */
  pieces?: number;
}

export type OpenAIScript =
  | { kind: 'answer'; answer: Answer; delayMs?: number }
  /** Raw stream: objects become `data: <json>`, strings are written as they are (comments, [DONE]). */
  | { kind: 'chunks'; chunks: Array<object | string>; delayMs?: number; cutAfter?: number; hangAfter?: number }
  | { kind: 'error'; status: number; message: string; type?: string | null; code?: string | number | null; headers?: Record<string, string> }
  | { kind: 'raw'; status: number; headers: Record<string, string>; body: string }
  | { kind: 'hang' };

export interface FakeOpenAI extends TestServer {
  received: OpenAIReceived[];
  queue: OpenAIScript[];
  fallback: (req: OpenAIReceived) => OpenAIScript;
  last(): OpenAIReceived;
}

export const DEFAULT_USAGE = {
  prompt_tokens: 21,
  completion_tokens: 9,
  total_tokens: 30,
  prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
  completion_tokens_details: { reasoning_tokens: 0 },
};

export async function startFakeOpenAI(): Promise<FakeOpenAI> {
  const received: OpenAIReceived[] = [];
  const fake = {
    received,
    queue: [] as OpenAIScript[],
    fallback: (_req: OpenAIReceived): OpenAIScript => ({ kind: 'answer', answer: { content: 'Hello, world' } }),
    last: () => received[received.length - 1],
  } as FakeOpenAI;
  const srv = await startServer(async (req: IncomingMessage, res: ServerResponse) => {
    const rec: OpenAIReceived = await recordRequest(req, res);
    received.push(rec);
    await play(fake.queue.shift() ?? fake.fallback(rec), rec, res);
  });
  return Object.assign(fake, srv);
}

/** The JSON chat.completion for an answer. */
export function completionOf(a: Answer, model = 'gpt-test'): Record<string, unknown> {
  const message: Record<string, unknown> = { role: 'assistant', content: a.content ?? null, refusal: null, annotations: [] };
  if (a.reasoning) message[a.reasoningField ?? 'reasoning_content'] = a.reasoning;
  if (a.tool_calls?.length) message.tool_calls = a.tool_calls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } }));
  return {
    id: a.id ?? 'chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG',
    object: 'chat.completion',
    created: 1741570283,
    model: a.model ?? model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: a.finish_reason ?? (a.tool_calls?.length ? 'tool_calls' : 'stop') }],
    usage: a.usage ?? DEFAULT_USAGE,
    service_tier: 'default',
    system_fingerprint: 'fp_fake',
  };
}

/** The chunks OpenAI streams for an answer: role, reasoning, text, tool-call fragments, finish, usage. */
export function chunksOf(a: Answer, model = 'gpt-test'): object[] {
  const base = {
    id: a.id ?? 'chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG',
    object: 'chat.completion.chunk',
    created: 1741570283,
    model: a.model ?? model,
    system_fingerprint: 'fp_fake',
  };
  const chunk = (delta: object, finish: string | null = null) => ({
    ...base,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    usage: null,
  });
  const n = a.pieces ?? 3;
  const out: object[] = [chunk({ role: 'assistant', content: '', refusal: null })];
  for (const p of split(a.reasoning ?? '', n)) out.push(chunk({ [a.reasoningField ?? 'reasoning_content']: p }));
  for (const p of split(a.content ?? '', n)) out.push(chunk({ content: p }));
  a.tool_calls?.forEach((c, index) => {
    out.push(chunk({ tool_calls: [{ index, id: c.id, type: 'function', function: { name: c.name, arguments: '' } }] }));
    for (const p of split(c.arguments, n)) out.push(chunk({ tool_calls: [{ index, function: { arguments: p } }] }));
  });
  out.push(chunk({}, a.finish_reason ?? (a.tool_calls?.length ? 'tool_calls' : 'stop')));
  out.push({ ...base, choices: [], usage: a.usage ?? DEFAULT_USAGE });
  return out;
}

function split(s: string, n: number): string[] {
  if (!s) return [];
  const size = Math.max(1, Math.ceil(s.length / n));
  const parts: string[] = [];
  for (let i = 0; i < s.length; i += size) parts.push(s.slice(i, i + size));
  return parts;
}

async function play(s: OpenAIScript, rec: OpenAIReceived, res: ServerResponse): Promise<void> {
  const json = (status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', 'x-request-id': `req_oai_${Date.now()}`, ...headers });
    res.end(JSON.stringify(body));
  };
  switch (s.kind) {
    case 'answer':
      if (s.delayMs) await sleep(s.delayMs);
      if (rec.body?.stream) return stream(res, [...chunksOf(s.answer, rec.body.model), '[DONE]'], {});
      return json(200, completionOf(s.answer, rec.body?.model));
    case 'chunks':
      return stream(res, s.chunks, s);
    case 'error':
      return json(
        s.status,
        { error: { message: s.message, type: s.type === undefined ? 'invalid_request_error' : s.type, param: null, code: s.code ?? null } },
        s.headers,
      );
    case 'raw':
      res.writeHead(s.status, s.headers);
      return void res.end(s.body);
    case 'hang':
      return;
  }
}

async function stream(res: ServerResponse, chunks: Array<object | string>, s: { delayMs?: number; cutAfter?: number; hangAfter?: number }): Promise<void> {
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-request-id': 'req_oai_stream' });
  res.flushHeaders();
  for (let i = 0; i < chunks.length; i++) {
    if (res.destroyed) return;
    if (s.cutAfter !== undefined && i === s.cutAfter) return void res.destroy();
    if (s.hangAfter !== undefined && i === s.hangAfter) return;
    const c = chunks[i];
    res.write(typeof c === 'string' ? (c.startsWith(':') ? `${c}\n\n` : `data: ${c}\n\n`) : `data: ${JSON.stringify(c)}\n\n`);
    if (s.delayMs) await sleep(s.delayMs);
  }
  res.end();
}

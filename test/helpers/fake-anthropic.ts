import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { recordRequest, startServer, type RecordedRequest, type TestServer } from './http-server';

/**
 * A fake Anthropic API that speaks the real wire format: JSON Messages, SSE with `event:`/`data:`
 * framing and `ping`s, error envelopes with `request-id` and `retry-after`. It records every
 * request it receives and lets a test script the next replies.
 */
export type Received = RecordedRequest;

export type Script =
  | { kind: 'message'; message?: Partial<Message>; status?: number; delayMs?: number }
  | { kind: 'stream'; events: Array<[string, unknown]>; delayMs?: number; hangAfter?: number; cutAfter?: number; status?: number }
  | { kind: 'error'; status: number; type: string; message: string; headers?: Record<string, string> }
  | { kind: 'raw'; status: number; headers: Record<string, string>; body: string }
  | { kind: 'hang' }
  | { kind: 'count'; input_tokens: number };

export interface Message {
  id: string;
  type: 'message';
  role: 'assistant';
  model: string;
  content: any[];
  stop_reason: string | null;
  stop_sequence: string | null;
  usage: Record<string, unknown>;
}

export interface FakeAnthropic extends TestServer {
  received: Received[];
  /** Replies used in order; when empty, `fallback` is used. */
  queue: Script[];
  fallback: (req: Received) => Script;
  last(): Received;
}

export function textMessage(model: string, text: string, usage = { input_tokens: 12, output_tokens: 6 }): Message {
  return {
    id: `msg_${randomUUID().replace(/-/g, '').slice(0, 24)}`,
    type: 'message',
    role: 'assistant',
    model,
    content: [{ type: 'text', text }],
    stop_reason: 'end_turn',
    stop_sequence: null,
    usage: { ...usage, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
  };
}

/** The events the real API sends for a text answer, split into deltas. */
export function textStream(model: string, pieces: string[], usage = { input_tokens: 12, output_tokens: 6 }): Array<[string, unknown]> {
  const id = `msg_${randomUUID().replace(/-/g, '').slice(0, 24)}`;
  return [
    [
      'message_start',
      {
        type: 'message_start',
        message: {
          id,
          type: 'message',
          role: 'assistant',
          model,
          content: [],
          stop_reason: null,
          stop_sequence: null,
          usage: { input_tokens: usage.input_tokens, output_tokens: 1, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
        },
      },
    ],
    ['content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }],
    ['ping', { type: 'ping' }],
    ...pieces.map((p): [string, unknown] => ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: p } }]),
    ['content_block_stop', { type: 'content_block_stop', index: 0 }],
    ['message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: usage.output_tokens } }],
    ['message_stop', { type: 'message_stop' }],
  ];
}

/** Text then a tool call whose JSON input arrives in fragments (input_json_delta). */
export function toolStream(model: string, tool: { id: string; name: string; input: object }, text = 'Let me check.'): Array<[string, unknown]> {
  const json = JSON.stringify(tool.input);
  const cut = Math.floor(json.length / 2);
  return [
    [
      'message_start',
      {
        type: 'message_start',
        message: {
          id: 'msg_tool1',
          type: 'message',
          role: 'assistant',
          model,
          content: [],
          stop_reason: null,
          stop_sequence: null,
          usage: { input_tokens: 377, output_tokens: 1 },
        },
      },
    ],
    ['content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }],
    ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } }],
    ['content_block_stop', { type: 'content_block_stop', index: 0 }],
    ['content_block_start', { type: 'content_block_start', index: 1, content_block: { type: 'tool_use', id: tool.id, name: tool.name, input: {} } }],
    ['content_block_delta', { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '' } }],
    ['content_block_delta', { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: json.slice(0, cut) } }],
    ['content_block_delta', { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: json.slice(cut) } }],
    ['content_block_stop', { type: 'content_block_stop', index: 1 }],
    ['message_delta', { type: 'message_delta', delta: { stop_reason: 'tool_use', stop_sequence: null }, usage: { output_tokens: 65 } }],
    ['message_stop', { type: 'message_stop' }],
  ];
}

export async function startFakeAnthropic(): Promise<FakeAnthropic> {
  const received: Received[] = [];
  const fake = {
    received,
    queue: [] as Script[],
    fallback: (r: Received): Script =>
      r.path.startsWith('/v1/messages/count_tokens')
        ? { kind: 'count', input_tokens: 42 }
        : r.body?.stream
          ? { kind: 'stream', events: textStream(r.body.model, ['Hello', ', world']) }
          : { kind: 'message' },
    last: () => received[received.length - 1],
  } as FakeAnthropic;

  const srv = await startServer(async (req: IncomingMessage, res: ServerResponse) => {
    const rec: Received = await recordRequest(req, res);
    received.push(rec);
    const script = fake.queue.shift() ?? fake.fallback(rec);
    const requestId = `req_fake${received.length}`;
    await play(script, rec, res, requestId);
  });
  return Object.assign(fake, srv);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Writes one scripted reply in Anthropic's wire format (fake-vertex.ts plays Claude's replies with it too). */
export async function play(s: Script, rec: Received, res: ServerResponse, requestId: string): Promise<void> {
  const json = (status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', 'request-id': requestId, ...headers });
    res.end(JSON.stringify(body));
  };
  switch (s.kind) {
    case 'message':
      if (s.delayMs) await sleep(s.delayMs);
      return json(s.status ?? 200, { ...textMessage(rec.body?.model ?? 'unknown', 'Hello!'), ...s.message });
    case 'count':
      return json(200, { input_tokens: s.input_tokens });
    case 'error':
      return json(s.status, { type: 'error', error: { type: s.type, message: s.message }, request_id: requestId }, s.headers);
    case 'raw':
      res.writeHead(s.status, s.headers);
      return void res.end(s.body);
    case 'hang':
      return; // never answers; the client's timeout or abort ends it
    case 'stream': {
      res.writeHead(s.status ?? 200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'request-id': requestId });
      res.flushHeaders();
      for (let i = 0; i < s.events.length; i++) {
        if (res.destroyed) return;
        if (s.cutAfter !== undefined && i === s.cutAfter) return void res.destroy();
        if (s.hangAfter !== undefined && i === s.hangAfter) return;
        const [name, data] = s.events[i];
        res.write(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
        if (s.delayMs) await sleep(s.delayMs);
      }
      return void res.end();
    }
  }
}

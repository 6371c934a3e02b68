import type { ServerResponse } from 'node:http';
import { recordRequest, startServer, type TestServer } from './http-server';

/**
 * An upstream that answers every request with a well-formed start and then one endless line (or
 * JSON reply) in its provider's real wire format: Anthropic SSE (`event:` + `data:`, LF),
 * OpenAI Chat Completions SSE (`data:` only) or Gemini SSE (`data:` only, CRLF). It counts the
 * bytes it managed to write and records whether the reader hung up before it finished, which tells
 * a gateway that drops the connection from one that drains (or buffers) it all.
 */
export type Provider = 'anthropic' | 'openai' | 'gemini';

export interface FloodUpstream extends TestServer {
  /** Bytes of the flood to send per reply (the endless part). */
  floodBytes: number;
  /** Per reply: bytes written, and whether the connection closed before all of it was written. */
  replies: Array<{ written: number; closed: Promise<{ aborted: boolean }> }>;
}

const START: Record<Provider, string> = {
  anthropic:
    'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_flood","type":"message","role":"assistant","model":"claude-upstream-1","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":5,"output_tokens":1}}}\n\n' +
    'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n',
  openai:
    'data: {"id":"chatcmpl-flood","object":"chat.completion.chunk","created":1700000000,"model":"gpt-test","choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"},"finish_reason":null}]}\n\n',
  gemini: 'data: {"candidates":[{"content":{"role":"model","parts":[{"text":"Hi"}]},"index":0}],"modelVersion":"gemini-test","responseId":"r1"}\r\n\r\n',
};

/** The unterminated event that follows the start: a text delta whose text never ends. */
export const FLOOD_HEAD: Record<Provider, string> = {
  anthropic: 'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"',
  openai: 'data: {"id":"chatcmpl-flood","object":"chat.completion.chunk","created":1700000000,"model":"gpt-test","choices":[{"index":0,"delta":{"content":"',
  gemini: 'data: {"candidates":[{"content":{"role":"model","parts":[{"text":"',
};

const PIECE = Buffer.alloc(64 * 1024, 'x');

export async function startFloodUpstream(provider: Provider, opts: { floodBytes: number; startDelayMs?: number }): Promise<FloodUpstream> {
  const replies: FloodUpstream['replies'] = [];
  const srv = await startServer(async (req, res) => {
    const rec = await recordRequest(req, res);
    const reply = { written: 0, closed: rec.closed };
    replies.push(reply);
    const streaming = rec.body?.stream === true || rec.path.includes(':streamGenerateContent');
    if (!streaming) {
      // A JSON reply that never closes its string, sent without a content-length (chunked).
      res.writeHead(200, { 'content-type': 'application/json' });
      await flood(res, Buffer.from('{"id":"x","text":"'), fake.floodBytes, reply);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.write(START[provider]);
    // Give the gateway the start as a chunk of its own, so it commits to the stream first.
    await new Promise((r) => setTimeout(r, opts.startDelayMs ?? 50));
    await flood(res, Buffer.from(FLOOD_HEAD[provider]), fake.floodBytes, reply);
  });
  const fake: FloodUpstream = { ...srv, floodBytes: opts.floodBytes, replies };
  return fake;
}

/** Resolves when the socket takes more again, or the reader has gone. */
export function drainedOrClosed(res: ServerResponse): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/** Writes `head` then `total` bytes of 'x', honouring backpressure, until done or the reader hangs up. */
export async function flood(res: ServerResponse, head: Buffer, total: number, reply: { written: number }): Promise<void> {
  res.write(head);
  while (reply.written < total && !res.destroyed) {
    reply.written += PIECE.length;
    if (!res.write(PIECE)) await drainedOrClosed(res);
  }
  if (!res.destroyed) res.end('"}\n\n');
}

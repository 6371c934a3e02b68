import { EventStreamCodec } from '@smithy/eventstream-codec';
import { fromUtf8, toUtf8 } from '@smithy/util-utf8';

/** Bedrock's binary event-stream frames, encoded with the real codec, for fixtures and the fake. */
const codec = new EventStreamCodec(toUtf8, fromUtf8);

const str = (value: string) => ({ type: 'string' as const, value });

/** A `chunk` frame carrying one Anthropic stream event, as Bedrock wraps it (base64 + padding). */
export function chunkFrame(event: Record<string, unknown>): Buffer {
  return chunkFrameOf(JSON.stringify(event));
}

/** A `chunk` frame around any text, well-formed or not (a cut-off event, for the fault table). */
export function chunkFrameOf(eventText: string): Buffer {
  const payload = JSON.stringify({ bytes: Buffer.from(eventText).toString('base64'), p: 'abcdefghij' });
  return Buffer.from(
    codec.encode({
      headers: { ':event-type': str('chunk'), ':content-type': str('application/json'), ':message-type': str('event') },
      body: fromUtf8(payload),
    }),
  );
}

/** An exception frame (`:message-type: exception`), as Bedrock sends after the 200. */
export function exceptionFrame(exceptionType: string, message: string): Buffer {
  return Buffer.from(
    codec.encode({
      headers: { ':exception-type': str(exceptionType), ':content-type': str('application/json'), ':message-type': str('exception') },
      body: fromUtf8(JSON.stringify({ message })),
    }),
  );
}

/** A short Anthropic stream, the last event carrying Bedrock's invocation metrics. */
export function streamEvents(text = 'Hello there'): Record<string, unknown>[] {
  return [
    {
      type: 'message_start',
      message: {
        id: 'msg_bdrk_01',
        type: 'message',
        role: 'assistant',
        model: 'claude-sonnet-4-5-20250929',
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { input_tokens: 12, output_tokens: 1 },
      },
    },
    { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
    { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } },
    { type: 'content_block_stop', index: 0 },
    { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 5 } },
    {
      type: 'message_stop',
      'amazon-bedrock-invocationMetrics': {
        inputTokenCount: 12,
        outputTokenCount: 5,
        invocationLatency: 300,
        firstByteLatency: 100,
        cacheReadInputTokenCount: 7,
        cacheWriteInputTokenCount: 3,
      },
    },
  ];
}

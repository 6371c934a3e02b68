import { formatEvent } from '../gateway/src/core/sse';
import { blockStartEvent, blockStopEvent, deltaEvent, messageStopEvent } from '../gateway/src/providers/event-wire';
import { StreamTranslator as GeminiTranslator } from '../gateway/src/providers/gemini/stream';
import { StreamTranslator as OpenAITranslator } from '../gateway/src/providers/openai/stream';

/**
 * Translated streams send their common events as prebuilt wire text (`raw`) instead of the relay
 * serialising `data`: the text must be byte for byte what JSON.stringify of the event gives, for
 * any text an upstream may send.
 */
const awkward = [
  '',
  'plain',
  'quotes " and \' and `',
  'backslashes \\ \\\\ \\n \\u0041',
  'controls \u0000 \u0001 \u0007 \b \f \n \r \t \u001f \u007f',
  'lone surrogates \ud800 \udfff and reversed \udc00\ud800',
  'emoji 🧪 🚀 👩‍👩‍👧 and flags 🇫🇷',
  'line and paragraph separators \u2028 \u2029',
  'BOM \ufeff, RTL \u202e, NBSP \u00a0, é ü 日本語',
  '</script><script>alert(1)</script>',
  '{"type":"not_json_inside"}',
  'x'.repeat(10_000),
];

test.each(awkward.map((t, i) => [i, t]))('awkward text #%i: every templated event is exactly the formatted event', (_i, text) => {
  for (const index of [0, 1, 7, 12345]) {
    for (const e of [
      deltaEvent(index, 'text_delta', 'text', text as string),
      deltaEvent(index, 'thinking_delta', 'thinking', text as string),
      deltaEvent(index, 'input_json_delta', 'partial_json', text as string),
      blockStartEvent(index, 'text'),
      blockStartEvent(index, 'thinking'),
      blockStopEvent(index),
    ]) {
      expect(e.raw).toBe(formatEvent(e.event, e.data));
    }
  }
  const stop = messageStopEvent();
  expect(stop.raw).toBe(formatEvent(stop.event, stop.data));
});

test('every event a Gemini stream translation prebuilds is exactly its formatted event', () => {
  const t = new GeminiTranslator({ model: 'gemini-2.5-flash', textSignatures: true, secrets: [], requestId: 'req_1' });
  const part = (text: string, extra: Record<string, unknown> = {}) => ({ candidates: [{ content: { role: 'model', parts: [{ text, ...extra }] }, index: 0 }] });
  const events = [
    ...t.chunk(part(awkward[5], { thought: true })),
    ...t.chunk(part(awkward[4], { thought: true, thoughtSignature: 'sig-1' })),
    ...awkward.flatMap((a) => t.chunk(part(a))),
    ...t.chunk({ candidates: [{ content: { role: 'model', parts: [{ text: awkward[7], thoughtSignature: 'sig-2' }] }, finishReason: 'STOP', index: 0 }] }),
    ...t.end(),
  ];
  const prebuilt = events.filter((e) => e.raw !== undefined);
  // message_stop, two block starts and stops, the thinking, text and signature-carrier blocks' deltas
  expect(prebuilt.map((e) => e.event)).toEqual(expect.arrayContaining(['content_block_start', 'content_block_delta', 'content_block_stop', 'message_stop']));
  expect(prebuilt.length).toBeGreaterThan(awkward.length);
  for (const e of prebuilt) expect(e.raw).toBe(formatEvent(e.event, e.data));
});

test('every event an OpenAI stream translation prebuilds is exactly its formatted event', () => {
  const t = new OpenAITranslator({ model: 'm', stops: [] });
  const events = [
    ...t.chunk({ id: 'chatcmpl-1', choices: [{ index: 0, delta: { reasoning_content: awkward[6] } }] }),
    ...awkward.flatMap((a) => t.chunk({ id: 'chatcmpl-1', choices: [{ index: 0, delta: { content: a } }] })),
    ...t.chunk({
      id: 'chatcmpl-1',
      choices: [{ index: 0, delta: { tool_calls: [{ index: 0, id: 'call_1', function: { name: 'f', arguments: '{"q":"\\u2028 \\"' } }] } }],
    }),
    ...t.chunk({ id: 'chatcmpl-1', choices: [{ index: 0, delta: {}, finish_reason: 'tool_calls' }] }),
    ...t.done(),
  ];
  const prebuilt = events.filter((e) => e.raw !== undefined);
  expect(prebuilt.map((e) => e.event)).toEqual(expect.arrayContaining(['content_block_start', 'content_block_delta', 'content_block_stop', 'message_stop']));
  for (const e of prebuilt) expect(e.raw).toBe(formatEvent(e.event, e.data));
});

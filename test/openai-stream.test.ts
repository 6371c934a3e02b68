import { readFileSync } from 'node:fs';
import path from 'node:path';
import { formatEvent } from '../gateway/src/core/sse';
import { StreamTranslator } from '../gateway/src/providers/openai/stream';
import { Readable } from 'node:stream';
import type { Target } from '../gateway/src/core/routes';
import { translateStream } from '../gateway/src/providers/stream-loop';
import type { StreamEvent } from '../gateway/src/core/upstream';
import { assemble } from './helpers/assemble';
import { grammarViolations } from './helpers/grammar';

/** OpenAI SSE fixtures (shaped like the providers' documented streams) through the stream translator. */
const fixture = (name: string) => readFileSync(path.join(__dirname, 'fixtures/openai', name), 'utf8');

/** Whom failures are reported against (toFailure names the target). */
const TARGET = { id: 't', provider: 'openai', model: 'target-model', baseURL: 'http://127.0.0.1:9' } as unknown as Target;

/** The text as an upstream body arriving in `size`-byte chunks. */
function bytes(text: string, size: number): Readable {
  const all = Buffer.from(text);
  const chunks: Buffer[] = [];
  for (let i = 0; i < all.length; i += size) chunks.push(all.subarray(i, i + size));
  return Readable.from(chunks, { objectMode: false });
}

/** Translates a fixture delivered whole and in 7-byte pieces (splitting UTF-8 and lines); both must agree. */
async function translate(name: string, stops: string[] = []) {
  const run = async (size: number) => {
    const batches: StreamEvent[][] = [];
    for await (const b of translateStream(bytes(fixture(name), size), new StreamTranslator({ model: 'target-model', stops }), TARGET)) batches.push(b);
    return batches;
  };
  const whole = await run(1 << 20);
  const pieces = await run(7);
  const events = whole.flat().map((e) => ({ event: e.event, data: e.data }));
  expect(pieces.flat().map((e) => ({ event: e.event, data: e.data }))).toEqual(events);
  expect(whole.every((b) => b.length > 0)).toBe(true);
  return { events, batches: whole };
}

describe('OpenAI stream → Anthropic events', () => {
  test('plain text: message_start, one text block, usage with cached tokens, message_stop', async () => {
    const { events } = await translate('stream-text.sse');
    expect(grammarViolations(events)).toEqual([]);
    expect(events.map((e) => e.event)).toEqual([
      'message_start',
      'content_block_start',
      'content_block_delta',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    const m = assemble(events);
    expect(m).toMatchObject({ id: 'msg_9lYpQhT6pNCZzDZfJ6q5hRRAnVm8S', model: 'gpt-4o-2024-08-06', stop_reason: 'end_turn', stop_sequence: null });
    expect(m.content).toEqual([{ type: 'text', text: 'Hello! How can I help you today?' }]);
    expect(m.usage).toEqual({ input_tokens: 11, output_tokens: 10, cache_read_input_tokens: 8, cache_creation_input_tokens: 0 });
  });

  test('parallel tool calls: one tool_use block each, ids converted, input_json_delta fragments', async () => {
    const { events } = await translate('stream-parallel-tools.sse');
    expect(grammarViolations(events)).toEqual([]);
    const m = assemble(events);
    expect(m.stop_reason).toBe('tool_use');
    expect(m.content).toEqual([
      { type: 'tool_use', id: 'toolu_K3b4QXJxNUQ6RJnPrbMPLTtI', name: 'get_weather', input: { location: 'Paris, France' } },
      { type: 'tool_use', id: 'toolu_HXLk3zYt5JMNW2UNeAwYjTma', name: 'get_weather', input: { location: 'Bogotá, Colombia' } },
    ]);
    // Fragments stream as they arrive: call 0's arrive before call 1 starts.
    const deltas = events.filter((e) => e.event === 'content_block_delta');
    expect(deltas.filter((e) => e.data.index === 0).length).toBe(3);
  });

  test('interleaved tool-call indexes after text: sequential blocks with correct indexes', async () => {
    const { events } = await translate('stream-interleaved-tools.sse');
    expect(grammarViolations(events)).toEqual([]);
    const starts = events.filter((e) => e.event === 'content_block_start').map((e) => [e.data.index, e.data.content_block.type, e.data.content_block.name]);
    expect(starts).toEqual([
      [0, 'text', undefined],
      [1, 'tool_use', 'get_weather'],
      [2, 'tool_use', 'get_time'],
      [3, 'tool_use', 'get_weather'],
    ]);
    const m = assemble(events);
    expect(m.content).toEqual([
      { type: 'text', text: 'Let me look both up.' },
      { type: 'tool_use', id: 'toolu_aaa111', name: 'get_weather', input: { city: 'Paris' } },
      { type: 'tool_use', id: 'toolu_bbb222', name: 'get_time', input: { tz: 'Europe/Paris' } },
      { type: 'tool_use', id: 'toolu_ccc333', name: 'get_weather', input: { city: 'Rome' } },
    ]);
    expect(m.usage.output_tokens).toBe(40);
  });

  test('Azure: prompt-filter chunk with empty choices, filter results and a choice without delta', async () => {
    const { events } = await translate('stream-azure.sse');
    expect(grammarViolations(events)).toEqual([]);
    const m = assemble(events);
    expect(m).toMatchObject({
      id: 'msg_AzureAbc123',
      model: 'gpt-4o-2024-11-20',
      stop_reason: 'end_turn',
      content: [{ type: 'text', text: 'Azure says hi.' }],
    });
    expect(m.usage).toMatchObject({ input_tokens: 12, output_tokens: 4 });
  });

  test('vLLM `reasoning` deltas become a thinking block before the text', async () => {
    const { events } = await translate('stream-reasoning-vllm.sse');
    expect(grammarViolations(events)).toEqual([]);
    const m = assemble(events);
    expect(m.content).toEqual([
      { type: 'thinking', thinking: 'The user asks 2+2. That is 4.', signature: '' },
      { type: 'text', text: '2 + 2 = 4.' },
    ]);
    expect(m.model).toBe('Qwen/Qwen3-8B');
  });

  test('DeepSeek `reasoning_content`, keep-alive comments, usage on the finish chunk without [DONE] usage chunk', async () => {
    const { events, batches } = await translate('stream-reasoning-deepseek.sse');
    expect(grammarViolations(events)).toEqual([]);
    expect(batches.flat().some((e) => e.event === 'ping' || e.event === '')).toBe(false);
    const m = assemble(events);
    expect(m.content.map((b: any) => b.type)).toEqual(['thinking', 'text']);
    expect(m.usage).toEqual({ input_tokens: 17, output_tokens: 40, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 });
  });

  test('a mid-stream {"error": …} ends the stream with an Anthropic error event', async () => {
    const { events } = await translate('stream-mid-error.sse');
    expect(grammarViolations(events)).toEqual([]);
    const last = events[events.length - 1];
    expect(last.event).toBe('error');
    expect(last.data.error).toEqual({ type: 'api_error', message: 'The server had an error while processing your request. Sorry about that!' });
    expect(events.some((e) => e.event === 'message_stop')).toBe(false);
  });

  test('vLLM reports the stop string that matched: stop_sequence', async () => {
    const { events } = await translate('stream-stop-sequence-vllm.sse', ['END', 'STOP']);
    expect(grammarViolations(events)).toEqual([]);
    expect(assemble(events)).toMatchObject({ stop_reason: 'stop_sequence', stop_sequence: 'END' });
    // Without the client having asked for it, a server's stop_reason means nothing.
    const { events: other } = await translate('stream-stop-sequence-vllm.sse', []);
    expect(assemble(other)).toMatchObject({ stop_reason: 'end_turn', stop_sequence: null });
  });

  test('a tool call cut short by max tokens is closed into valid JSON; stop_reason max_tokens', async () => {
    const { events } = await translate('stream-length-tool.sse');
    expect(grammarViolations(events)).toEqual([]);
    const m = assemble(events);
    expect(m.stop_reason).toBe('max_tokens');
    expect(m.content[0].input).toEqual({ path: 'a.txt', text: 'Hello wor' });
  });

  test('a stream that ends without finish_reason or [DONE] is a failure, not an answer', async () => {
    const { events } = await translate('stream-truncated.sse');
    expect(grammarViolations(events)).toEqual([]);
    expect(events[events.length - 1]).toMatchObject({ event: 'error', data: { type: 'error', error: { type: 'api_error' } } });
  });

  test('Ollama: whole tool calls in one chunk', async () => {
    const { events } = await translate('stream-ollama-tools.sse');
    expect(grammarViolations(events)).toEqual([]);
    const m = assemble(events);
    expect(m.content.map((b: any) => [b.id, b.input.city])).toEqual([
      ['toolu_x1y2z3w4', 'Oslo'],
      ['toolu_q9r8s7t6', 'Bergen'],
    ]);
    expect(m.stop_reason).toBe('tool_use');
  });

  test('an error before any content is the first batch alone (so the core can still retry it)', async () => {
    const text = 'data: {"error":{"message":"overloaded","type":"server_error","code":503}}\n\n';
    const batches: StreamEvent[][] = [];
    for await (const b of translateStream(bytes(text, 1000), new StreamTranslator({ model: 'm', stops: [] }), TARGET)) batches.push(b);
    expect(batches).toHaveLength(1);
    expect(batches[0].map((e) => e.event)).toEqual(['error']);
  });
});

describe('StreamTranslator edge cases', () => {
  const chunk = (delta: object, finish: string | null = null) => ({ id: 'chatcmpl-x', model: 'm', choices: [{ index: 0, delta, finish_reason: finish }] });
  const run = (chunks: object[], done = true) => {
    const t = new StreamTranslator({ model: 'm', stops: [] });
    const out = chunks.flatMap((c) => t.chunk(c));
    out.push(...(done ? t.done() : t.end()));
    return out.map((e) => ({ event: e.event, data: e.data }));
  };

  test('text arriving while a tool call is incomplete waits, then gets its own block', () => {
    const events = run([
      chunk({ tool_calls: [{ index: 0, id: 'call_a', function: { name: 'f', arguments: '{"x":' } }] }),
      chunk({ content: 'Meanwhile…' }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '1}' } }] }),
      chunk({}, 'tool_calls'),
    ]);
    expect(grammarViolations(events)).toEqual([]);
    expect(assemble(events).content).toEqual([
      { type: 'tool_use', id: 'toolu_a', name: 'f', input: { x: 1 } },
      { type: 'text', text: 'Meanwhile…' },
    ]);
  });

  test('a tool name that arrives after the id (llama.cpp) still opens one block', () => {
    const events = run([
      chunk({ tool_calls: [{ index: 0, id: 'call_b', function: { arguments: '' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { name: 'g', arguments: '{}' } }] }),
      chunk({}, 'stop'),
    ]);
    expect(grammarViolations(events)).toEqual([]);
    // A named tool_choice makes OpenAI say `stop`; a call was made, so it is tool_use.
    expect(assemble(events)).toMatchObject({ stop_reason: 'tool_use', content: [{ type: 'tool_use', id: 'toolu_b', name: 'g', input: {} }] });
  });

  test('calls without ids get stable invented toolu_ ids; repeated id/name fragments are no-ops', () => {
    const cs = [
      chunk({ tool_calls: [{ index: 0, function: { name: 'h', arguments: '{"a"' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { name: 'h', arguments: ':2}' } }] }),
      chunk({}, 'tool_calls'),
    ];
    const a = assemble(run(cs));
    expect(a.content).toEqual([{ type: 'tool_use', id: expect.stringMatching(/^toolu_[0-9A-Za-z]{24}$/), name: 'h', input: { a: 2 } }]);
    expect(assemble(run(cs)).content[0].id).toBe(a.content[0].id);
  });

  test('arguments sent as an object rather than a JSON string still arrive', () => {
    const events = run([chunk({ tool_calls: [{ index: 0, id: 'call_o', function: { name: 'f', arguments: { k: [1] } } }] }), chunk({}, 'tool_calls')]);
    expect(grammarViolations(events)).toEqual([]);
    expect(assemble(events).content[0].input).toEqual({ k: [1] });
  });

  test('refusal deltas become text with stop_reason refusal; content_filter → refusal', () => {
    expect(assemble(run([chunk({ refusal: "I can't help with that." }), chunk({}, 'stop')]))).toMatchObject({
      stop_reason: 'refusal',
      content: [{ type: 'text', text: "I can't help with that." }],
    });
    expect(assemble(run([chunk({ content: 'Some' }), chunk({}, 'content_filter')])).stop_reason).toBe('refusal');
  });

  test('finish_reason "error" (vLLM) is a failure', () => {
    const events = run([chunk({ content: 'x' }), chunk({}, 'error')], false);
    expect(events[events.length - 1].event).toBe('error');
    expect(grammarViolations(events)).toEqual([]);
  });

  test('finish_reason then the body ends without [DONE]: the message still completes', () => {
    const events = run([chunk({ content: 'ok' }), chunk({}, 'stop')], false);
    expect(grammarViolations(events)).toEqual([]);
    expect(assemble(events).stop_reason).toBe('end_turn');
  });

  test('[DONE] with no chunk at all gives an empty but well-formed message', () => {
    const events = run([]);
    expect(grammarViolations(events)).toEqual([]);
    expect(assemble(events)).toMatchObject({ content: [], model: 'm', stop_reason: 'end_turn' });
  });
});

test('the prebuilt wire form of each delta is exactly the formatted event', () => {
  const t = new StreamTranslator({ model: 'm', stops: [] });
  const out = [
    ...t.chunk({
      id: 'chatcmpl-r',
      choices: [
        {
          index: 0,
          delta: {
            reasoning: 'why "\\n" \u2028',
            content: 'a\u0000b "q"',
            tool_calls: [{ index: 0, id: 'call_1', function: { name: 'f', arguments: '{"x":"\\u00e9"}' } }],
          },
        },
      ],
    }),
    ...t.done(),
  ];
  const deltas = out.filter((e) => e.event === 'content_block_delta');
  expect(deltas).toHaveLength(3);
  for (const e of deltas) expect(e.raw).toBe(formatEvent(e.event, e.data));
});

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { errorReply, mapGoogleError } from '../gateway/src/providers/gemini/errors';
import { decodeSignature, decodeToolUseId } from '../gateway/src/providers/gemini/ids';
import { geminiOptions } from '../gateway/src/providers/gemini/options';
import { toGenerateContent } from '../gateway/src/providers/gemini/request';
import { assemble, toMessageReply } from '../gateway/src/providers/gemini/response';
import { StreamTranslator, type StreamContext } from '../gateway/src/providers/gemini/stream';
import type { StreamEvent } from '../gateway/src/core/upstream';
import { mergeChunks } from './helpers/fake-gemini';
import { requestViolation } from './helpers/gemini-validate';
import { grammarViolations } from './helpers/grammar';

/** Gemini responses and stream chunks (fixtures shaped like Google's documented examples) → Anthropic messages and events. */
const fixture = (name: string) => JSON.parse(readFileSync(join(__dirname, 'fixtures/gemini', name), 'utf8'));

function ctx(model: string, textSignatures = true): StreamContext {
  return { model, textSignatures, secrets: ['AIzaSy-test-secret-key'], requestId: 'req_test' };
}

/** Translated events, with `data` always set (what the grammar checker reads). */
function run(chunks: any[], c: StreamContext): Array<StreamEvent & { data: any }> {
  const t = new StreamTranslator(c);
  return [...chunks.flatMap((ch) => t.chunk(ch)), ...t.end()].map((e) => ({ ...e, data: e.data }));
}

const names = (events: StreamEvent[]) => events.map((e) => (e.event === 'content_block_delta' ? `delta:${e.data.delta.type}` : e.event));
/** Tool ids carry a random part; compare messages with them replaced. */
const stableIds = (m: any) => ({ ...m, content: m.content.map((b: any) => (b.type === 'tool_use' ? { ...b, id: 'toolu_X' } : b)) });

describe('streams', () => {
  test('parallel function calls with thoughts (Gemini 3): grammar, indexes, signature in the first tool_use id, usage', () => {
    const { chunks } = fixture('parallel-calls.stream.json');
    const events = run(chunks, ctx('gemini-3-pro-preview'));
    expect(grammarViolations(events)).toEqual([]);
    expect(names(events)).toEqual([
      'message_start',
      'content_block_start',
      'delta:thinking_delta',
      'delta:thinking_delta',
      'content_block_stop',
      'content_block_start',
      'delta:text_delta',
      'content_block_stop',
      'content_block_start',
      'delta:input_json_delta',
      'content_block_stop',
      'content_block_start',
      'delta:input_json_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    const { body: msg } = assemble(events);
    expect(msg.id).toBe('msg_pc3x1');
    expect(msg.model).toBe('gemini-3-pro-preview');
    expect(msg.stop_reason).toBe('tool_use');
    expect(msg.content[0]).toEqual({
      type: 'thinking',
      thinking: "**Planning the lookups**\nThe user wants two cities. I'll call the tool for each.",
      signature: '',
    });
    expect(msg.content[1]).toEqual({ type: 'text', text: 'Let me check both cities.' });
    expect(msg.content.slice(2).map((b: any) => [b.name, b.input])).toEqual([
      ['get_weather', { location: 'Paris', unit: 'celsius' }],
      ['get_weather', { location: 'London', unit: 'celsius' }],
    ]);
    expect(decodeToolUseId(msg.content[2].id)).toMatchObject({ signature: 'CiQBcsjafKy2ParisSigAAA=', model: 'gemini-3-pro-preview' });
    expect(msg.content[3].id).toMatch(/^toolu_[0-9A-Za-z]{24}$/);
    expect(msg.usage).toEqual({ input_tokens: 96, output_tokens: 82, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 });
  });

  test('the same answer non-streamed assembles to the same message', () => {
    const { chunks } = fixture('parallel-calls.stream.json');
    const streamed = assemble(run(chunks, ctx('gemini-3-pro-preview'))).body;
    const whole = toMessageReply(mergeChunks(chunks) as any, ctx('gemini-3-pro-preview'));
    expect(whole.status).toBe(200);
    expect(stableIds(whole.body)).toEqual(stableIds(streamed));
  });

  test('a signature on the trailing empty text part becomes an empty signed thinking block, and goes back on the text part', () => {
    const { chunks } = fixture('thinking-signature.stream.json');
    const events = run(chunks, ctx('gemini-2.5-pro'));
    expect(grammarViolations(events)).toEqual([]);
    const { body: msg } = assemble(events);
    expect(msg.content.map((b: any) => b.type)).toEqual(['thinking', 'text', 'thinking']);
    expect(msg.content[1].text).toBe("There are three r's in strawberry.");
    expect(msg.content[2].thinking).toBe('');
    expect(decodeSignature(msg.content[2].signature, 'gemini-2.5-pro')).toBe('EpQBAYNgVdZHmStrawberrySig==');
    expect(decodeSignature(msg.content[2].signature, 'gemini-2.5-flash')).toBeUndefined();
    expect(msg.usage).toEqual({ input_tokens: 8, output_tokens: 289, cache_creation_input_tokens: 0, cache_read_input_tokens: 4 });
    expect(stableIds(toMessageReply(mergeChunks(chunks) as any, ctx('gemini-2.5-pro')).body)).toEqual(msg);

    // The client echoes the assistant turn; the signature lands back on the answer's part.
    const next = toGenerateContent(
      {
        max_tokens: 100,
        messages: [
          { role: 'user', content: 'How many r?' },
          { role: 'assistant', content: msg.content },
          { role: 'user', content: 'Sure?' },
        ],
      },
      { model: 'gemini-2.5-pro', options: geminiOptions({ model: 'gemini-2.5-pro' }) },
    );
    expect(next.contents[1].parts).toEqual([
      { text: '**Counting letters**\nstrawberry has r at 3, 8, 9.', thought: true },
      { text: "There are three r's in strawberry.", thoughtSignature: 'EpQBAYNgVdZHmStrawberrySig==' },
    ]);
    expect(requestViolation(next, { issued: new Set(['EpQBAYNgVdZHmStrawberrySig==']), enforce: false })).toBeUndefined();
  });

  test('without thinking requested, text signatures are not turned into thinking blocks', () => {
    const { chunks } = fixture('thinking-signature.stream.json');
    const plain = chunks.map((c: any) => ({
      ...c,
      candidates: c.candidates.map((cd: any) => ({ ...cd, content: { ...cd.content, parts: cd.content.parts.filter((p: any) => !p.thought) } })),
    }));
    const { body } = assemble(run(plain, ctx('gemini-2.5-pro', false)));
    expect(body.content).toEqual([{ type: 'text', text: "There are three r's in strawberry." }]);
  });

  test('a mid-stream error chunk ends the stream with a mapped error event', () => {
    const { chunks } = fixture('mid-stream-error.stream.json');
    const events = run(chunks, ctx('gemini-2.5-flash'));
    expect(grammarViolations(events)).toEqual([]);
    expect(names(events)).toEqual(['message_start', 'content_block_start', 'delta:text_delta', 'error']);
    expect(events[3].data).toEqual({
      type: 'error',
      error: { type: 'overloaded_error', message: 'The model is overloaded. Please try again later.' },
      request_id: 'req_test',
    });
  });

  test('a stream that ends without finishReason ends with an error event', () => {
    const { chunks } = fixture('parallel-calls.stream.json');
    const events = run(chunks.slice(0, 2), ctx('gemini-3-pro-preview'));
    expect(grammarViolations(events)).toEqual([]);
    expect(events[events.length - 1]).toEqual({
      event: 'error',
      data: { type: 'error', error: { type: 'api_error', message: 'the Gemini stream ended without a finishReason (cut short)' }, request_id: 'req_test' },
    });
  });

  test('an error as the very first chunk comes before message_start, so the core can still retry', () => {
    const events = run([{ error: { code: 429, message: 'Resource exhausted.', status: 'RESOURCE_EXHAUSTED' } }], ctx('gemini-2.5-flash'));
    expect(names(events)).toEqual(['error']);
    expect(events[0].data.error.type).toBe('rate_limit_error');
  });
});

describe('whole responses', () => {
  test('SAFETY → refusal with what was written; stop_details explains', () => {
    const { body } = toMessageReply(fixture('safety-block.json').response, ctx('gemini-2.5-flash'));
    expect(body.stop_reason).toBe('refusal');
    expect(body.content).toEqual([{ type: 'text', text: 'I can explain the general' }]);
    expect(body.stop_details).toEqual({ type: 'refusal', category: null, explanation: 'Gemini stopped with finishReason SAFETY' });
  });

  test('a blocked prompt (no candidates, promptFeedback.blockReason) → refusal with no content', () => {
    const { status, body } = toMessageReply(fixture('prompt-blocked.json').response, ctx('gemini-2.5-flash'));
    expect(status).toBe(200);
    expect(body).toMatchObject({
      type: 'message',
      role: 'assistant',
      content: [],
      stop_reason: 'refusal',
      stop_sequence: null,
      usage: { input_tokens: 31, output_tokens: 0 },
    });
    expect(body.stop_details.explanation).toBe('Gemini blocked the prompt (PROHIBITED_CONTENT)');
  });

  test('MAX_TOKENS → max_tokens; STOP after a stop sequence → end_turn (Gemini does not say a sequence matched)', () => {
    const { body } = toMessageReply(fixture('max-tokens.json').response, ctx('gemini-2.5-flash'));
    expect(body).toMatchObject({ stop_reason: 'max_tokens', stop_sequence: null, usage: { input_tokens: 7, output_tokens: 10 } });
    const stopped = toMessageReply({ candidates: [{ content: { parts: [{ text: 'a, b, c' }] }, finishReason: 'STOP' }] }, ctx('gemini-2.5-flash')).body;
    expect(stopped).toMatchObject({ stop_reason: 'end_turn', stop_sequence: null, model: 'gemini-2.5-flash' });
  });

  test('MALFORMED_FUNCTION_CALL with nothing written is a retryable 502, not an empty answer', () => {
    const { status, body } = toMessageReply(fixture('malformed-call.json').response, ctx('gemini-2.5-flash'));
    expect(status).toBe(502);
    expect(body.error).toEqual({
      type: 'api_error',
      message: 'Gemini finished with MALFORMED_FUNCTION_CALL and no content: Malformed function call: print(default_api.get_weather(location=Paris))',
    });
  });

  test('Gemini call ids are kept (for the functionResponse) and a toolu_ id is minted around them', () => {
    const { body } = toMessageReply(
      { candidates: [{ content: { parts: [{ functionCall: { id: 'abc-1', name: 'f', args: { x: 1 } } }] }, finishReason: 'STOP' }] },
      ctx('gemini-3-flash-preview'),
    );
    expect(body.content[0]).toMatchObject({ type: 'tool_use', name: 'f', input: { x: 1 } });
    expect(decodeToolUseId(body.content[0].id)).toEqual({ id: 'abc-1', signature: undefined, model: undefined });
  });
});

describe('errors', () => {
  const { cases } = fixture('errors.json');
  const rows: Array<[number, string, any]> = cases.map((c: any) => [c.http, c.body?.error?.status ?? c.body[0].error.status, c]);
  test.each(rows)('HTTP %i %s', (_h, _s, c) => {
    const reply = errorReply(c.http, {}, Buffer.from(JSON.stringify(c.body)), []);
    expect(reply.status).toBe(c.status);
    expect(reply.body.error.type).toBe(c.type);
    const message = (Array.isArray(c.body) ? c.body[0] : c.body).error.message;
    expect(reply.body.error.message).toBe(message);
    expect(reply.headers['retry-after']).toBe(c.retryAfter);
  });

  test('non-JSON error pages, 5xx without a status, and the key never echoed', () => {
    const html = errorReply(502, {}, Buffer.from('<html><body>Bad Gateway</body></html>'), []);
    expect(html).toMatchObject({
      status: 502,
      body: { error: { type: 'api_error', message: 'Gemini returned HTTP 502: <html><body>Bad Gateway</body></html>' } },
    });
    expect(mapGoogleError(500, { code: 500, message: 'The model is overloaded.' })).toMatchObject({ status: 529, type: 'overloaded_error' });
    const leaked = errorReply(
      400,
      {},
      Buffer.from(JSON.stringify({ error: { code: 400, message: 'bad key AIzaSy-test-secret-key', status: 'INVALID_ARGUMENT' } })),
      ['AIzaSy-test-secret-key'],
    );
    expect(leaked.body.error.message).toBe('bad key [redacted]');
  });
});

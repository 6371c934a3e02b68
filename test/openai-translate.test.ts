import { readFileSync } from 'node:fs';
import path from 'node:path';
import { chatURL } from '../gateway/src/providers/openai/provider';
import { durationSeconds, errorReply } from '../gateway/src/providers/openai/errors';
import { toAnthropicToolId, toUpstreamToolId } from '../gateway/src/providers/openai/ids';
import { JsonTail, parseArguments } from '../gateway/src/providers/openai/json-tail';
import { checkOpenAIOptions, readOptions } from '../gateway/src/providers/openai/options';
import { reasoningEffort, toChatRequest } from '../gateway/src/providers/openai/request';
import { toMessage } from '../gateway/src/providers/openai/response';
import { imageSize } from '../gateway/src/providers/openai/image-size';
import { countChatTokens, imageTokens } from '../gateway/src/providers/openai/tokens';
import { TranslationError } from '../gateway/src/providers/translation-error';
import { compile } from '../gateway/src/config/compile';

const fixture = (name: string) => JSON.parse(readFileSync(path.join(__dirname, 'fixtures/openai', name), 'utf8'));
const defaults = readOptions(undefined);
const translate = (req: any, opts = defaults, stream = false) => toChatRequest(req, 'gpt-4o', opts, stream);
const base = { model: 'm', max_tokens: 100 };
const err = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(TranslationError);
    return (e as Error).message;
  }
  throw new Error('expected a TranslationError');
};

describe('Anthropic request → Chat Completions body', () => {
  test('a multi-turn conversation with images, thinking, parallel tool calls, errors and a mid-conversation system message', () => {
    const req = fixture('anthropic-request.json');
    const before = JSON.stringify(req);
    const body = translate(req);
    expect(JSON.stringify(req)).toBe(before); // the client's body is not touched
    const png = req.messages[0].content[1].source.data;
    expect(body.messages).toEqual([
      { role: 'system', content: 'You are a weather bot.\n\nAnswer briefly.' },
      // Two consecutive user turns merge, as Anthropic merges them.
      {
        role: 'user',
        content: [
          { type: 'text', text: 'What is in this picture, and the weather in Paris and Rome?' },
          { type: 'image_url', image_url: { url: `data:image/png;base64,${png}` } },
          { type: 'image_url', image_url: { url: 'https://upload.wikimedia.org/wikipedia/commons/a/a7/Camponotus_flavomarginatus_ant.jpg' } },
          { type: 'text', text: 'Be quick.' },
        ],
      },
      // Thinking is dropped (no reasoningField), redacted thinking always.
      {
        role: 'assistant',
        content: 'A 1×1 PNG and an ant. Checking the weather.',
        tool_calls: [
          { id: 'call_01A09q90qw90lq917835lq9', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
          // An id the gateway encoded earlier goes back as the upstream's own id.
          { id: 'chatcmpl-tool-9f0', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Rome"}' } },
        ],
      },
      // Tool results move ahead of the system message so they follow their calls.
      { role: 'tool', tool_call_id: 'call_01A09q90qw90lq917835lq9', content: '15 degrees, cloudy' },
      { role: 'tool', tool_call_id: 'chatcmpl-tool-9f0', content: 'Error: weather service timed out' },
      { role: 'system', content: 'The user is in a hurry.' },
      { role: 'user', content: 'Here you go.' },
    ]);
    expect(body.tools).toEqual([
      {
        type: 'function',
        function: {
          name: 'get_weather',
          description: 'Current weather for a city',
          parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
        },
      },
    ]);
    expect(body).toMatchObject({
      model: 'gpt-4o',
      n: 1,
      tool_choice: 'auto',
      parallel_tool_calls: false,
      max_completion_tokens: 1024,
      temperature: 0.2,
      top_p: 0.9,
      stop: ['END'],
      user: 'user-42',
      reasoning_effort: 'medium',
    });
    for (const k of [
      'top_k',
      'max_tokens',
      'stream',
      'stream_options',
      'context_management',
      'service_tier',
      'metadata',
      'thinking',
      'system',
      'cache_control',
    ])
      expect(body).not.toHaveProperty(k);
    expect(JSON.stringify(body)).not.toContain('cache_control');
  });

  test('thinking goes back in the reasoning field when the target reads one', () => {
    const body = translate(fixture('anthropic-request.json'), readOptions({ reasoningField: 'reasoning_content' }));
    const assistant: any = body.messages.find((m) => m.role === 'assistant');
    expect(assistant.reasoning_content).toBe('I should call the weather tool twice.');
    expect(assistant.content).not.toContain('I should call');
  });

  test('options: developer role, max_tokens field and clamp, top_k, safety_identifier, no reasoning_effort', () => {
    const opts = readOptions({
      systemRole: 'developer',
      maxTokensField: 'max_tokens',
      maxOutputTokens: 512,
      topK: true,
      userField: 'safety_identifier',
      reasoningEffort: false,
    });
    const body = translate(fixture('anthropic-request.json'), opts);
    expect(body.messages[0].role).toBe('developer');
    expect(body.messages.filter((m: any) => m.role === 'system')).toEqual([]);
    expect(body).toMatchObject({ max_tokens: 512, top_k: 40, safety_identifier: 'user-42' });
    expect(body).not.toHaveProperty('max_completion_tokens');
    expect(body).not.toHaveProperty('reasoning_effort');
    expect(body).not.toHaveProperty('user');
  });

  test('streams ask for usage; a long user id (Claude Code sends JSON) is hashed to 64 hex characters', () => {
    const body = translate(
      { ...base, metadata: { user_id: JSON.stringify({ device_id: 'x'.repeat(64), session_id: 's' }) }, messages: [{ role: 'user', content: 'Hi' }] },
      defaults,
      true,
    );
    expect(body).toMatchObject({ stream: true, stream_options: { include_usage: true } });
    expect(body.user).toMatch(/^[0-9a-f]{64}$/);
  });

  test('tool_choice any/tool/none; no tools means no tool fields', () => {
    const tools = [{ name: 't', input_schema: { type: 'object' } }];
    const msgs = [{ role: 'user', content: 'x' }];
    expect(translate({ ...base, messages: msgs, tools, tool_choice: { type: 'any' } }).tool_choice).toBe('required');
    expect(translate({ ...base, messages: msgs, tools, tool_choice: { type: 'tool', name: 't' } }).tool_choice).toEqual({
      type: 'function',
      function: { name: 't' },
    });
    const none = translate({ ...base, messages: msgs, tools, tool_choice: { type: 'none', disable_parallel_tool_use: true } });
    expect(none.tool_choice).toBe('none');
    expect(none).not.toHaveProperty('parallel_tool_calls');
    const noTools = translate({ ...base, messages: msgs, tool_choice: { type: 'auto' } });
    expect(noTools).not.toHaveProperty('tools');
    expect(noTools).not.toHaveProperty('tool_choice');
  });

  test('Anthropic server tools are a clear 400', () => {
    const msg = err(() =>
      translate({
        ...base,
        messages: [{ role: 'user', content: 'x' }],
        tools: [
          { name: 'ok', input_schema: { type: 'object' } },
          { type: 'web_search_20250305', name: 'web_search', max_uses: 3 },
        ],
      }),
    );
    expect(msg).toMatch(/^tools\.1: 'web_search' \(web_search_20250305\) is an Anthropic-defined tool/);
    expect(err(() => translate({ ...base, messages: [{ role: 'user', content: 'x' }], tools: [{ type: 'bash_20250124', name: 'bash' }] }))).toContain(
      'bash_20250124',
    );
    // A tool explicitly typed custom is an ordinary function.
    expect(
      translate({ ...base, messages: [{ role: 'user', content: 'x' }], tools: [{ type: 'custom', name: 'c', input_schema: { type: 'object' } }] }).tools,
    ).toHaveLength(1);
  });

  test('PDFs become file parts, or a 400 where the target takes none; text documents become text', () => {
    const pdf = { type: 'document', title: 'Q3 report', source: { type: 'base64', media_type: 'application/pdf', data: 'JVBERi0xLjQK' } };
    const req = {
      ...base,
      messages: [
        {
          role: 'user',
          content: [pdf, { type: 'document', source: { type: 'text', media_type: 'text/plain', data: 'plain words' } }, { type: 'text', text: 'Summarise.' }],
        },
      ],
    };
    expect(translate(req).messages[0].content).toEqual([
      { type: 'file', file: { file_data: 'data:application/pdf;base64,JVBERi0xLjQK', filename: 'Q3 report.pdf' } },
      { type: 'text', text: 'plain words' },
      { type: 'text', text: 'Summarise.' },
    ]);
    expect(err(() => translate(req, readOptions({ pdf: false })))).toBe(
      "messages.0.content.0: this model's OpenAI-compatible target does not accept PDF documents",
    );
    expect(
      err(() => translate({ ...base, messages: [{ role: 'user', content: [{ type: 'document', source: { type: 'url', url: 'https://x/y.pdf' } }] }] })),
    ).toContain("document source 'url'");
    expect(
      err(() => translate({ ...base, messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'file', file_id: 'file_1' } }] }] })),
    ).toContain("image source 'file'");
    expect(
      err(() =>
        translate(
          { ...base, messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'url', url: 'https://x/y.png' } }] }] },
          readOptions({ images: false }),
        ),
      ),
    ).toContain('does not accept images');
  });

  test('a tool_result with an image: text in the tool message, the image in the user message after it', () => {
    const req = {
      ...base,
      messages: [
        { role: 'user', content: 'Screenshot please' },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_shot1', name: 'screenshot', input: {} }] },
        {
          role: 'user',
          content: [
            {
              type: 'tool_result',
              tool_use_id: 'toolu_shot1',
              content: [
                { type: 'text', text: 'done' },
                { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'AAAA' } },
              ],
            },
          ],
        },
      ],
    };
    const msgs = translate(req).messages;
    expect(msgs[1]).toEqual({
      role: 'assistant',
      content: null,
      tool_calls: [{ id: 'call_shot1', type: 'function', function: { name: 'screenshot', arguments: '{}' } }],
    });
    expect(msgs[2]).toEqual({ role: 'tool', tool_call_id: 'call_shot1', content: 'done\n(1 attachment from this result follow in the next user message)' });
    expect(msgs[3]).toEqual({ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } }] });
  });

  test('unknown roles and blocks are named in the 400', () => {
    expect(err(() => translate({ ...base, messages: [{ role: 'robot', content: 'x' }] }))).toBe(
      "messages.0.role: 'robot' is not a role an OpenAI-compatible target understands",
    );
    expect(err(() => translate({ ...base, messages: [{ role: 'user', content: [{ type: 'hologram' }] }] }))).toContain(
      "messages.0.content.0: content block type 'hologram'",
    );
  });

  test('reasoning effort: output_config.effort first, else the thinking budget', () => {
    expect(reasoningEffort({ output_config: { effort: 'low' }, thinking: { type: 'enabled', budget_tokens: 30000 } })).toBe('low');
    expect(reasoningEffort({ output_config: { effort: 'max' } })).toBe('high');
    expect(reasoningEffort({ thinking: { type: 'enabled', budget_tokens: 1024 } })).toBe('low');
    expect(reasoningEffort({ thinking: { type: 'enabled', budget_tokens: 16384 } })).toBe('high');
    expect(reasoningEffort({ thinking: { type: 'adaptive' } })).toBeUndefined();
    expect(reasoningEffort({})).toBeUndefined();
  });

  test('structured output (output_config.format) → response_format json_schema', () => {
    const schema = { type: 'object', properties: { a: { type: 'string' } } };
    expect(
      translate({ ...base, messages: [{ role: 'user', content: 'x' }], output_config: { format: { type: 'json_schema', schema } } }).response_format,
    ).toEqual({ type: 'json_schema', json_schema: { name: 'response', schema } });
  });
});

describe('Chat Completion → Anthropic Message', () => {
  const ctx = { model: 'target', stops: [] };

  test('parallel tool calls (OpenAI docs example), cached tokens', () => {
    const m = toMessage(fixture('completion-parallel-tools.json'), ctx);
    expect(m).toEqual({
      id: 'msg_9lYpQhT6pNCZzDZfJ6q5hRRAnVm8S',
      type: 'message',
      role: 'assistant',
      model: 'gpt-4o-2024-08-06',
      content: [
        { type: 'tool_use', id: 'toolu_K3b4QXJxNUQ6RJnPrbMPLTtI', name: 'get_weather', input: { location: 'Paris, France' } },
        { type: 'tool_use', id: 'toolu_HXLk3zYt5JMNW2UNeAwYjTma', name: 'get_weather', input: { location: 'Bogotá, Colombia' } },
      ],
      stop_reason: 'tool_use',
      stop_sequence: null,
      stop_details: null,
      usage: { input_tokens: 17, output_tokens: 52, cache_read_input_tokens: 64, cache_creation_input_tokens: 0 },
    });
  });

  test('reasoning_content becomes a thinking block', () => {
    const m = toMessage(fixture('completion-reasoning.json'), ctx);
    expect(m.content).toEqual([
      { type: 'thinking', thinking: 'Compare 9.11 and 9.8: 0.8 > 0.11.', signature: '' },
      { type: 'text', text: '9.8 is larger.' },
    ]);
    expect(m.id).toBe('msg_930c60df-bf64-41c9-a88e-3ec75f81e00e');
  });

  test('finish reasons', () => {
    const c = (finish: string, extra: object = {}) => ({
      id: 'x',
      choices: [{ index: 0, message: { role: 'assistant', content: 'hi', ...extra }, finish_reason: finish }],
    });
    expect(toMessage(c('length'), ctx).stop_reason).toBe('max_tokens');
    expect(toMessage(c('content_filter'), ctx).stop_reason).toBe('refusal');
    expect(toMessage(c('stop', { refusal: 'No.', content: null }), ctx)).toMatchObject({ stop_reason: 'refusal', content: [{ type: 'text', text: 'No.' }] });
    expect(
      toMessage({ choices: [{ index: 0, message: { content: '1 2' }, finish_reason: 'stop', stop_reason: 'END' }] }, { model: 'm', stops: ['END'] }),
    ).toMatchObject({ stop_reason: 'stop_sequence', stop_sequence: 'END', model: 'm' });
    // Truncated arguments are repaired the same way the stream repairs them.
    expect(
      toMessage({ choices: [{ message: { tool_calls: [{ id: 'call_1', function: { name: 'f', arguments: '{"a": [1, 2' } }] }, finish_reason: 'length' }] }, ctx)
        .content[0].input,
    ).toEqual({ a: [1, 2] });
  });
});

describe('errors', () => {
  const reply = (status: number, file: string | object, headers: Record<string, string> = {}) =>
    errorReply(status, headers, Buffer.from(typeof file === 'string' ? readFileSync(path.join(__dirname, 'fixtures/openai', file)) : JSON.stringify(file)), [
      'sk-proj-abcdefXY9z',
    ]);

  test('400 carries the upstream message', () => {
    const r = reply(400, 'error-context-length.json');
    expect(r.status).toBe(400);
    expect(r.body.error).toEqual({ type: 'invalid_request_error', message: expect.stringMatching(/^This model's maximum context length is 128000 tokens/) });
  });

  test('401 never echoes the key, even masked', () => {
    const r = reply(401, 'error-invalid-key.json');
    expect(r.status).toBe(401);
    expect(r.body.error.type).toBe('authentication_error');
    expect(r.body.error.message).toContain("upstream rejected the gateway's credentials");
    expect(r.body.error.message).not.toMatch(/xY9z|sk-proj-\*/);
  });

  test('429 keeps retry-after, or derives it from x-ratelimit-reset-*; quota exhaustion is billing', () => {
    expect(reply(429, 'error-rate-limit.json', { 'retry-after': '2', 'x-request-id': 'req_1' })).toMatchObject({
      status: 429,
      headers: { 'retry-after': '2', 'upstream-request-id': 'req_1' },
      body: { error: { type: 'rate_limit_error' } },
    });
    expect(reply(429, 'error-rate-limit.json', { 'x-ratelimit-reset-requests': '1s', 'x-ratelimit-reset-tokens': '6m0s' }).headers['retry-after']).toBe('360');
    expect(reply(429, 'error-quota.json')).toMatchObject({ status: 402, body: { error: { type: 'billing_error' } } });
  });

  test.each([
    [403, 403, 'permission_error'],
    [404, 404, 'not_found_error'],
    [422, 400, 'invalid_request_error'],
    [500, 500, 'api_error'],
    [502, 502, 'api_error'],
    [503, 529, 'overloaded_error'],
    [504, 504, 'timeout_error'],
  ])('%i → %i %s', (status, out, type) => {
    const r = reply(status, { error: { message: 'boom', type: 'x' } });
    expect([r.status, r.body.error.type, r.body.error.message]).toEqual([out, type, 'boom']);
  });

  test('non-JSON and vLLM-style bodies', () => {
    expect(errorReply(502, {}, Buffer.from('<html>Bad Gateway</html>'), []).body.error.message).toBe('HTTP 502: <html>Bad Gateway</html>');
    expect(errorReply(400, {}, Buffer.from('{"object":"error","message":"bad temp","type":"BadRequestError","code":400}'), []).body.error.message).toBe(
      'bad temp',
    );
  });

  test('durations', () => {
    expect([durationSeconds('1s'), durationSeconds('12ms'), durationSeconds('1h2m3.5s'), durationSeconds('soon')]).toEqual([1, 0.012, 3723.5, undefined]);
  });
});

describe('tool ids round-trip without state', () => {
  test.each([
    'call_K3b4QXJxNUQ6RJnPrbMPLTtI',
    'chatcmpl-tool-8f4c1e2d9a7b4c5d8e9f0a1b2c3d4e5f',
    'AbC123xYz',
    'call_with_underscores',
    'functions.get_weather:0',
  ])('%s', (id) => {
    const a = toAnthropicToolId(id);
    expect(a).toMatch(/^toolu_[A-Za-z0-9_-]+$/);
    expect(toUpstreamToolId(a)).toBe(id);
  });

  test("Anthropic's own ids fit OpenAI; over-long client ids are hashed consistently", () => {
    expect(toUpstreamToolId('toolu_01A09q90qw90lq917835lq9')).toBe('call_01A09q90qw90lq917835lq9');
    const long = `my-own-id-${'z'.repeat(60)}`;
    expect(toUpstreamToolId(long)).toMatch(/^call_[0-9A-Za-z]{24}$/);
    expect(toUpstreamToolId(long)).toBe(toUpstreamToolId(long));
  });
});

describe('JsonTail closes truncated JSON', () => {
  test.each([
    ['{"a": "b', '{"a": "b"}'],
    ['{"a": "b\\', null],
    ['{"a": "\\u12', null],
    ['{"a', '{"a":null}'],
    ['{"a":', '{"a":null}'],
    ['{"a": 1,', null],
    ['{"a": [1, tr', '{"a": [1, true]}'],
    ['{"a": -1.', '{"a": -1.0}'],
    ['{"a": {"b": [', '{"a": {"b": []}}'],
    ['{}', '{}'],
  ])('%s', (text, expected) => {
    const t = new JsonTail();
    t.push(text);
    const fixed = text + t.suffix();
    expect(() => JSON.parse(fixed)).not.toThrow();
    if (expected) expect(fixed).toBe(expected);
  });

  test('completeness', () => {
    const t = new JsonTail();
    t.push('{"s": "}\\"", "n": [1');
    expect(t.complete).toBe(false);
    t.push(']} ');
    expect(t.complete).toBe(true);
    expect(parseArguments('')).toEqual({});
    expect(parseArguments('[1]')).toEqual({});
  });
});

describe('options', () => {
  test('bad values are reported for `switchyard validate`', () => {
    expect(checkOpenAIOptions({ maxTokensField: 'max_toks', pdf: 'no', maxOutputTokens: 0, azureApiVersion: 'latest', colour: 'red' })).toEqual([
      'maxTokensField: must be one of max_completion_tokens, max_tokens',
      'pdf: must be true or false',
      'maxOutputTokens: must be a positive integer',
      'azureApiVersion: must look like 2024-10-21 or 2025-04-01-preview',
      'colour: unknown option for provider openai',
    ]);
    expect(checkOpenAIOptions({ azureApiVersion: '2024-10-21', reasoningField: 'reasoning', topK: true })).toEqual([]);
  });

  test('URLs: OpenAI-style base, Azure dated deployment, Azure v1', () => {
    expect(chatURL('https://api.openai.com/v1/', 'gpt-4o', defaults)).toBe('https://api.openai.com/v1/chat/completions');
    expect(chatURL('https://res.openai.azure.com', 'my deploy', readOptions({ azureApiVersion: '2024-10-21' }))).toBe(
      'https://res.openai.azure.com/openai/deployments/my%20deploy/chat/completions?api-version=2024-10-21',
    );
    expect(chatURL('https://res.openai.azure.com', 'd', readOptions({ azure: true }))).toBe('https://res.openai.azure.com/openai/v1/chat/completions');
    expect(chatURL('https://res.openai.azure.com/openai/v1', 'd', readOptions({ azure: true }))).toBe(
      'https://res.openai.azure.com/openai/v1/chat/completions',
    );
  });
});

describe('count_tokens with tiktoken', () => {
  test('text, framing and tools', () => {
    const chat = translate({ model: 'm', system: 'You are terse.', messages: [{ role: 'user', content: 'Hello world' }] });
    // tiktoken o200k: "You are terse." = 4, "Hello world" = 2, roles 1 each; 3 per message + 3 priming.
    expect(countChatTokens(chat, defaults)).toBe(3 + (3 + 1 + 4) + (3 + 1 + 2));
    const withTools = translate({
      model: 'm',
      messages: [{ role: 'user', content: 'Hello world' }],
      tools: [{ name: 'get_weather', description: 'Weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }],
    });
    expect(countChatTokens(withTools, defaults)).toBeGreaterThan(
      countChatTokens(translate({ model: 'm', messages: [{ role: 'user', content: 'Hello world' }] }), defaults) + 12,
    );
    // Special-token text is counted as text, not rejected.
    expect(
      countChatTokens(translate({ model: 'm', messages: [{ role: 'user', content: '<|endoftext|>' }] }), readOptions({ tokenizer: 'cl100k_base' })),
    ).toBeGreaterThan(7);
  });

  test('images by size', () => {
    // A 1×1 PNG: one tile.
    expect(imageTokens('data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==')).toBe(255);
    expect(imageTokens('https://example.com/cat.jpg')).toBe(765);
  });

  test('image headers: GIF, JPEG (after an APP0 segment), WebP VP8X', () => {
    const gif = Buffer.concat([Buffer.from('GIF89a'), Buffer.from([0x20, 0x03, 0x58, 0x02]), Buffer.alloc(8)]);
    expect(imageSize(gif.toString('base64'))).toEqual({ width: 800, height: 600 });
    const app0 = Buffer.from([0xff, 0xe0, 0x00, 0x10, ...Buffer.from('JFIF\0'), 1, 1, 0, 0, 1, 0, 1, 0, 0]);
    const sof = Buffer.from([0xff, 0xc0, 0x00, 0x11, 0x08, 0x04, 0x38, 0x07, 0x80, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(imageSize(Buffer.concat([Buffer.from([0xff, 0xd8]), app0, sof]).toString('base64'))).toEqual({ width: 1920, height: 1080 });
    const vp8x = Buffer.alloc(30);
    vp8x.write('RIFF', 0, 'latin1');
    vp8x.write('WEBPVP8X', 8, 'latin1');
    vp8x.writeUIntLE(1023, 24, 3);
    vp8x.writeUIntLE(767, 27, 3);
    expect(imageSize(vp8x.toString('base64'))).toEqual({ width: 1024, height: 768 });
    // 1920×1080: shortest side to 768 → 1365×768 → 3×2 tiles.
    expect(imageTokens(`data:image/jpeg;base64,${Buffer.concat([Buffer.from([0xff, 0xd8]), app0, sof]).toString('base64')}`)).toBe(85 + 170 * 6);
    expect(imageSize('bm90IGFuIGltYWdl')).toBeUndefined();
  });
});

describe('compile() checks openai target options', () => {
  test('a misspelt option rejects the route, naming the field', () => {
    const route = (options: object) => ({
      apiVersion: 'switchyard.dev/v1alpha1',
      kind: 'ModelRoute',
      metadata: { name: 'r', namespace: 'default' },
      spec: { model: 'm', targets: [{ provider: 'openai', model: 'gpt-4o', options }] },
    });
    const { results } = compile({ routes: [route({ maxTokenField: 'max_tokens' })], keys: [], secrets: [], serial: 1 });
    expect(results[0]).toMatchObject({
      accepted: false,
      reason: 'InvalidTarget',
      message: 'spec.targets.0.options.maxTokenField: unknown option for provider openai',
    });
    expect(
      compile({ routes: [route({ maxTokensField: 'max_tokens', azureApiVersion: '2024-10-21' })], keys: [], secrets: [], serial: 1 }).results[0].accepted,
    ).toBe(true);
  });
});

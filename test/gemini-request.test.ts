import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TranslationError } from '../gateway/src/providers/translation-error';
import { decodeToolUseId, encodeSignature, encodeToolUseId } from '../gateway/src/providers/gemini/ids';
import { geminiOptions } from '../gateway/src/providers/gemini/options';
import { toCountTokens, toGenerateContent } from '../gateway/src/providers/gemini/request';
import { requestViolation } from './helpers/gemini-validate';

/** Anthropic Messages request → generateContent body, checked against what Gemini accepts. */
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';

function translate(body: any, model = 'gemini-2.5-flash', options: Record<string, any> = {}) {
  return toGenerateContent({ max_tokens: 256, ...body }, { model, options: geminiOptions({ model, options }) });
}

function expectAccepted(req: any, issued: string[] = [], enforce = false) {
  expect(requestViolation(req, { issued: new Set(issued), enforce })).toBeUndefined();
}

function rejection(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(TranslationError);
    return (err as Error).message;
  }
  throw new Error('expected a TranslationError');
}

describe('system, roles and turns', () => {
  test('system string and blocks become systemInstruction; cache_control is dropped', () => {
    const a = translate({ system: 'Be brief.', messages: [{ role: 'user', content: 'Hi' }] });
    expect(a.systemInstruction).toEqual({ parts: [{ text: 'Be brief.' }] });
    const b = translate({
      system: [
        { type: 'text', text: 'One.' },
        { type: 'text', text: '' },
        { type: 'text', text: 'Two.', cache_control: { type: 'ephemeral' } },
      ],
      messages: [{ role: 'user', content: 'Hi' }],
    });
    expect(b.systemInstruction).toEqual({ parts: [{ text: 'One.' }, { text: 'Two.' }] });
    expectAccepted(b);
  });

  test('leading role:"system" messages join systemInstruction; later ones stay in place as marked user text', () => {
    const req = translate({
      system: 'Top.',
      messages: [
        { role: 'system', content: 'Leading.' },
        { role: 'user', content: 'Question one' },
        { role: 'assistant', content: 'Answer one' },
        { role: 'system', content: [{ type: 'text', text: 'The date changed.' }] },
        { role: 'user', content: 'Question two' },
      ],
    });
    expect(req.systemInstruction).toEqual({ parts: [{ text: 'Top.' }, { text: 'Leading.' }] });
    expect(req.contents).toEqual([
      { role: 'user', parts: [{ text: 'Question one' }] },
      { role: 'model', parts: [{ text: 'Answer one' }] },
      { role: 'user', parts: [{ text: '<system>\nThe date changed.\n</system>' }, { text: 'Question two' }] },
    ]);
    expectAccepted(req);
  });

  test('user/assistant map to user/model; consecutive same-role turns merge; empty text and empty turns are dropped', () => {
    const req = translate({
      messages: [
        { role: 'user', content: 'a' },
        {
          role: 'user',
          content: [
            { type: 'text', text: '' },
            { type: 'text', text: 'b' },
          ],
        },
        { role: 'assistant', content: [{ type: 'text', text: '' }] },
        { role: 'assistant', content: 'c' },
        { role: 'assistant', content: [{ type: 'redacted_thinking', data: 'EuYBCkQYAiJA…' }] },
        { role: 'user', content: 'd' },
      ],
    });
    expect(req.contents).toEqual([
      { role: 'user', parts: [{ text: 'a' }, { text: 'b' }] },
      { role: 'model', parts: [{ text: 'c' }] },
      { role: 'user', parts: [{ text: 'd' }] },
    ]);
    expect(JSON.stringify(req)).not.toContain('EuYBCkQYAiJA');
    expectAccepted(req);
  });

  test('an unknown role or block type is a clear 400', () => {
    expect(rejection(() => translate({ messages: [{ role: 'tool', content: 'x' }] }))).toMatch(/^messages\.0\.role: 'tool'/);
    expect(rejection(() => translate({ messages: [{ role: 'user', content: [{ type: 'container_upload', file_id: 'f' }] }] }))).toMatch(
      /^messages\.0\.content\.0\.type: 'container_upload'/,
    );
    expect(rejection(() => translate({ messages: [{ role: 'user', content: '' }] }))).toMatch(/nothing to send/);
  });
});

describe('images and documents', () => {
  test('base64 images → inlineData, URLs → fileData, data: URLs → inlineData, PDFs → application/pdf', () => {
    const req = translate({
      messages: [
        {
          role: 'user',
          content: [
            { type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG } },
            { type: 'image', source: { type: 'url', url: 'https://example.com/cat.JPG?size=large' } },
            { type: 'image', source: { type: 'url', url: 'https://example.com/render' } },
            { type: 'image', source: { type: 'url', url: `data:image/webp;base64,${PNG}` } },
            { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: 'JVBERi0xLjQK' } },
            { type: 'document', source: { type: 'url', url: 'https://example.com/paper.pdf' } },
            { type: 'document', title: 'Notes', source: { type: 'text', media_type: 'text/plain', data: 'Line one' } },
            { type: 'text', text: 'Describe these.' },
          ],
        },
      ],
    });
    expect(req.contents[0].parts).toEqual([
      { inlineData: { mimeType: 'image/png', data: PNG } },
      { fileData: { mimeType: 'image/jpeg', fileUri: 'https://example.com/cat.JPG?size=large' } },
      { fileData: { fileUri: 'https://example.com/render' } },
      { inlineData: { mimeType: 'image/webp', data: PNG } },
      { inlineData: { mimeType: 'application/pdf', data: 'JVBERi0xLjQK' } },
      { fileData: { mimeType: 'application/pdf', fileUri: 'https://example.com/paper.pdf' } },
      { text: 'Notes\n\nLine one' },
      { text: 'Describe these.' },
    ]);
    expectAccepted(req);
  });

  test('gif (which Gemini does not accept) and Files API ids are refused with the field named', () => {
    const gif = rejection(() =>
      translate({
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'x' },
              { type: 'image', source: { type: 'base64', media_type: 'image/gif', data: 'R0lGOD' } },
            ],
          },
        ],
      }),
    );
    expect(gif).toBe(
      'messages.0.content.1.source.media_type: Gemini does not accept image/gif; send image/png, image/jpeg, image/webp, image/heic and image/heif',
    );
    expect(
      rejection(() => translate({ messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'url', url: 'https://x.test/a.gif' } }] }] })),
    ).toMatch(/^messages\.0\.content\.0\.source\.url: Gemini does not accept image\/gif/);
    expect(rejection(() => translate({ messages: [{ role: 'user', content: [{ type: 'document', source: { type: 'file', file_id: 'file_1' } }] }] }))).toMatch(
      /Files API/,
    );
  });
});

describe('tool use and tool results', () => {
  const tools = [
    {
      name: 'get_weather',
      description: 'Weather for a city',
      input_schema: { type: 'object', properties: { location: { type: 'string' } }, required: ['location'] },
    },
    { name: 'get_time', input_schema: { type: 'object', properties: {} } },
  ];

  test('tool_use → functionCall, tool_result → functionResponse in one user turn, names recovered, errors as {error}', () => {
    const geminiMade = encodeToolUseId({ id: 'call-7', signature: 'sigA', model: 'gemini-2.5-flash' });
    const req = translate({
      tools,
      messages: [
        { role: 'user', content: 'Weather in Paris, and the time?' },
        {
          role: 'assistant',
          content: [
            { type: 'text', text: 'Checking.' },
            { type: 'tool_use', id: geminiMade, name: 'get_weather', input: { location: 'Paris' } },
            { type: 'tool_use', id: 'toolu_01A09q90qw90lq917835lq9', name: 'get_time', input: {} },
          ],
        },
        {
          role: 'user',
          content: [
            {
              type: 'tool_result',
              tool_use_id: geminiMade,
              content: [
                { type: 'text', text: '18°C' },
                { type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG } },
              ],
            },
            { type: 'tool_result', tool_use_id: 'toolu_01A09q90qw90lq917835lq9', is_error: true, content: 'clock unavailable' },
            { type: 'text', text: 'Thanks' },
          ],
        },
      ],
    });
    expect(req.contents[1]).toEqual({
      role: 'model',
      parts: [
        { text: 'Checking.' },
        { functionCall: { id: 'call-7', name: 'get_weather', args: { location: 'Paris' } }, thoughtSignature: 'sigA' },
        { functionCall: { name: 'get_time', args: {} } },
      ],
    });
    expect(req.contents[2]).toEqual({
      role: 'user',
      parts: [
        { functionResponse: { id: 'call-7', name: 'get_weather', response: { output: '18°C' } } },
        { functionResponse: { name: 'get_time', response: { error: 'clock unavailable' } } },
        { inlineData: { mimeType: 'image/png', data: PNG } },
        { text: 'Thanks' },
      ],
    });
    expectAccepted(req, ['sigA']);
  });

  test("fixture: a parallel-call tool loop becomes the body of Gemini's function-calling docs", () => {
    const f = JSON.parse(readFileSync(join(__dirname, 'fixtures/gemini/function-responses.json'), 'utf8'));
    const req = toGenerateContent(f.anthropic, { model: f.model, options: geminiOptions({ model: f.model }) });
    expect(req).toEqual(f.gemini);
    expectAccepted(req, f.issued, true);
  });

  test('a tool_result whose tool_use is unknown is a 400', () => {
    const msg = rejection(() => translate({ messages: [{ role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_nope', content: 'x' }] }] }));
    expect(msg).toBe("messages.0.content.0.tool_use_id: no assistant tool_use block has the id 'toolu_nope'");
  });

  test('tool_choice auto/any/tool/none → functionCallingConfig; no tools → no toolConfig', () => {
    const cfg = (tool_choice: any) => translate({ tools, tool_choice, messages: [{ role: 'user', content: 'x' }] }).toolConfig;
    expect(cfg({ type: 'auto' })).toEqual({ functionCallingConfig: { mode: 'AUTO' } });
    expect(cfg({ type: 'any', disable_parallel_tool_use: true })).toEqual({ functionCallingConfig: { mode: 'ANY' } });
    expect(cfg({ type: 'tool', name: 'get_time' })).toEqual({ functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['get_time'] } });
    expect(cfg({ type: 'none' })).toEqual({ functionCallingConfig: { mode: 'NONE' } });
    expect(translate({ tool_choice: { type: 'auto' }, messages: [{ role: 'user', content: 'x' }] }).toolConfig).toBeUndefined();
    expect(rejection(() => cfg({ type: 'tool', name: 'nope' }))).toBe("tool_choice.name: no tool named 'nope' is defined");
  });

  test('declarations: description kept, a no-argument tool has no schema, JSON Schema on 2.5+/3, OpenAPI parameters before', () => {
    const modern = translate({ tools, messages: [{ role: 'user', content: 'x' }] });
    expect(modern.tools).toEqual([
      {
        functionDeclarations: [
          {
            name: 'get_weather',
            description: 'Weather for a city',
            parametersJsonSchema: { type: 'object', properties: { location: { type: 'string' } }, required: ['location'] },
          },
          { name: 'get_time' },
        ],
      },
    ]);
    const old = translate({ tools, messages: [{ role: 'user', content: 'x' }] }, 'gemini-2.0-flash');
    expect(old.tools![0].functionDeclarations[0].parameters).toEqual({ type: 'OBJECT', properties: { location: { type: 'STRING' } }, required: ['location'] });
    const forced = translate({ tools, messages: [{ role: 'user', content: 'x' }] }, 'gemini-3-pro-preview', { toolSchema: 'openapi' });
    expect(forced.tools![0].functionDeclarations[0].parameters).toBeDefined();
    expectAccepted(old);
  });

  test('Anthropic-defined tools (server or versioned) are a 400 that names them', () => {
    const msg = rejection(() =>
      translate({ tools: [tools[0], { type: 'web_search_20250305', name: 'web_search', max_uses: 3 }], messages: [{ role: 'user', content: 'x' }] }),
    );
    expect(msg).toBe(
      "tools.1: 'web_search_20250305' (web_search) is an Anthropic-defined tool that a Gemini model cannot run; only custom tools (name, description, input_schema) can be routed to Gemini",
    );
    expect(rejection(() => translate({ tools: [{ type: 'bash_20250124', name: 'bash' }], messages: [{ role: 'user', content: 'x' }] }))).toMatch(
      /^tools\.0: 'bash_20250124'/,
    );
    expect(translate({ tools: [{ ...tools[0], type: 'custom' }], messages: [{ role: 'user', content: 'x' }] }).tools).toHaveLength(1);
  });
});

describe('thinking blocks and thought signatures on the way back', () => {
  const model = 'gemini-2.5-pro';
  const toolId = encodeToolUseId({ signature: 'sigCall', model });

  test('thinking → thought part with its signature; an empty signed thinking block puts its signature on the part before it', () => {
    const req = translate(
      {
        messages: [
          { role: 'user', content: 'Q1' },
          {
            role: 'assistant',
            content: [
              { type: 'thinking', thinking: 'Let me think.', signature: encodeSignature(model, 'sigThought') },
              { type: 'text', text: 'Answer.' },
              { type: 'thinking', thinking: '', signature: encodeSignature(model, 'sigText') },
            ],
          },
          { role: 'user', content: 'Q2' },
        ],
      },
      model,
    );
    expect(req.contents[1].parts).toEqual([
      { text: 'Let me think.', thought: true, thoughtSignature: 'sigThought' },
      { text: 'Answer.', thoughtSignature: 'sigText' },
    ]);
    expectAccepted(req, ['sigThought', 'sigText']);
  });

  test('signatures made by another model, or by another provider, are not replayed', () => {
    const req = translate(
      {
        messages: [
          { role: 'user', content: 'Q1' },
          {
            role: 'assistant',
            content: [
              { type: 'thinking', thinking: 'Old thoughts.', signature: encodeSignature('gemini-2.5-flash', 'sigOther') },
              { type: 'thinking', thinking: 'Claude thoughts.', signature: 'EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds' },
              { type: 'tool_use', id: encodeToolUseId({ signature: 'sigOtherCall', model: 'gemini-2.5-flash' }), name: 'f', input: {} },
            ],
          },
          { role: 'user', content: 'next' },
        ],
      },
      model,
    );
    expect(req.contents[1].parts).toEqual([
      { text: 'Old thoughts.', thought: true },
      { text: 'Claude thoughts.', thought: true },
      { functionCall: { name: 'f', args: {} } },
    ]);
  });

  test('a function call signature comes back from the tool_use id', () => {
    const req = translate(
      {
        messages: [
          { role: 'user', content: 'Q' },
          { role: 'assistant', content: [{ type: 'tool_use', id: toolId, name: 'f', input: { a: 1 } }] },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: toolId, content: 'done' }] },
        ],
      },
      model,
    );
    expect(req.contents[1].parts).toEqual([{ functionCall: { name: 'f', args: { a: 1 } }, thoughtSignature: 'sigCall' }]);
    expect(req.contents[2].parts).toEqual([{ functionResponse: { name: 'f', response: { output: 'done' } } }]);
    expect(decodeToolUseId(toolId)).toEqual({ signature: 'sigCall', model, id: undefined });
    expect(toolId).toMatch(/^toolu_[A-Za-z0-9_-]+$/);
  });

  test('Gemini 3: calls without a usable signature (foreign history) get the documented bypass value on the first call', () => {
    const body = {
      messages: [
        { role: 'user', content: 'Q' },
        {
          role: 'assistant',
          content: [
            { type: 'tool_use', id: 'toolu_01abc', name: 'f', input: {} },
            { type: 'tool_use', id: 'toolu_01abd', name: 'f', input: {} },
          ],
        },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 'toolu_01abc', content: '1' },
            { type: 'tool_result', tool_use_id: 'toolu_01abd', content: '2' },
          ],
        },
      ],
    };
    const g3 = translate(body, 'gemini-3-pro-preview');
    expect(g3.contents[1].parts.map((p) => p.thoughtSignature)).toEqual(['skip_thought_signature_validator', undefined]);
    expectAccepted(g3, [], true);
    expect(translate(body, 'gemini-2.5-flash').contents[1].parts.map((p) => p.thoughtSignature)).toEqual([undefined, undefined]);
    expect(translate(body, 'gemini-3-pro-preview', { signatureBypass: false }).contents[1].parts[0].thoughtSignature).toBeUndefined();
  });
});

describe('sampling and thinking configuration', () => {
  const msgs = [{ role: 'user', content: 'x' }];

  test('max_tokens, temperature, top_p, top_k, stop_sequences; fields without an equivalent are dropped', () => {
    const req = translate({
      messages: msgs,
      max_tokens: 900,
      temperature: 0.3,
      top_p: 0.9,
      top_k: 40,
      stop_sequences: ['\n\nHuman:', 'END'],
      metadata: { user_id: 'u-1' },
      cache_control: { type: 'ephemeral' },
      context_management: { edits: [] },
      service_tier: 'auto',
      container: null,
      inference_geo: 'us',
    });
    expect(req.generationConfig).toEqual({ maxOutputTokens: 900, temperature: 0.3, topP: 0.9, topK: 40, stopSequences: ['\n\nHuman:', 'END'] });
    expect(Object.keys(req).sort()).toEqual(['contents', 'generationConfig']);
    expectAccepted(req);
  });

  test('more than 5 stop sequences is a 400; maxOutputTokens option caps max_tokens; safetyThreshold fills safetySettings', () => {
    expect(rejection(() => translate({ messages: msgs, stop_sequences: ['a', 'b', 'c', 'd', 'e', 'f'] }))).toBe(
      'stop_sequences: Gemini accepts at most 5 stop sequences, got 6',
    );
    const capped = translate({ messages: msgs, max_tokens: 64000 }, 'gemini-2.0-flash', { maxOutputTokens: 8192, safetyThreshold: 'BLOCK_ONLY_HIGH' });
    expect(capped.generationConfig!.maxOutputTokens).toBe(8192);
    expect(capped.safetySettings).toContainEqual({ category: 'HARM_CATEGORY_DANGEROUS_CONTENT', threshold: 'BLOCK_ONLY_HIGH' });
    expectAccepted(capped);
  });

  test.each([
    ['gemini-2.5-flash', { thinking: { type: 'enabled', budget_tokens: 2048 } }, { thinkingBudget: 2048, includeThoughts: true }],
    ['gemini-2.5-flash', { thinking: { type: 'enabled', budget_tokens: 50000 } }, { thinkingBudget: 24576, includeThoughts: true }],
    ['gemini-2.5-pro', { thinking: { type: 'enabled', budget_tokens: 50000 } }, { thinkingBudget: 32768, includeThoughts: true }],
    ['gemini-2.5-flash', { thinking: { type: 'adaptive' } }, { thinkingBudget: -1, includeThoughts: true }],
    ['gemini-2.5-flash', { thinking: { type: 'enabled', budget_tokens: 4096, display: 'omitted' } }, { thinkingBudget: 4096 }],
    ['gemini-2.5-flash', { thinking: { type: 'disabled' } }, { thinkingBudget: 0 }],
    ['gemini-2.5-pro', { thinking: { type: 'disabled' } }, undefined],
    ['gemini-2.5-flash', { output_config: { effort: 'medium' } }, { thinkingBudget: 8192 }],
    ['gemini-2.5-flash', { thinking: { type: 'adaptive' }, output_config: { effort: 'low' } }, { thinkingBudget: 1024, includeThoughts: true }],
    ['gemini-3-pro-preview', { thinking: { type: 'enabled', budget_tokens: 2048 } }, { thinkingLevel: 'LOW', includeThoughts: true }],
    ['gemini-3-pro-preview', { thinking: { type: 'enabled', budget_tokens: 32000 } }, { thinkingLevel: 'HIGH', includeThoughts: true }],
    ['gemini-3-pro-preview', { thinking: { type: 'adaptive' }, output_config: { effort: 'high' } }, { thinkingLevel: 'HIGH', includeThoughts: true }],
    ['gemini-3-flash-preview', { output_config: { effort: 'medium' } }, { thinkingLevel: 'MEDIUM' }],
    ['gemini-3-pro-preview', { thinking: { type: 'disabled' } }, undefined],
    ['gemini-3-pro-preview', {}, undefined],
  ])('%s %j → thinkingConfig %j', (model, extra, expected) => {
    const req = translate({ messages: msgs, max_tokens: 60000, ...extra }, model);
    expect(req.generationConfig?.thinkingConfig).toEqual(expected);
    expectAccepted(req);
  });
});

test('count_tokens uses the generateContentRequest wrapper (system and tools count too)', () => {
  const body = {
    model: 'claude-test',
    system: 'Be brief.',
    tools: [{ name: 'f', input_schema: { type: 'object', properties: { a: { type: 'string' } } } }],
    messages: [{ role: 'user', content: 'Hi' }],
  };
  const { generateContentRequest: r } = toCountTokens(body, { model: 'gemini-2.5-flash', options: geminiOptions({ model: 'gemini-2.5-flash' }) });
  expect(r.model).toBe('models/gemini-2.5-flash');
  expect(r.systemInstruction).toEqual({ parts: [{ text: 'Be brief.' }] });
  expect(r.tools).toHaveLength(1);
  expect(r.generationConfig).toBeUndefined();
  const { model: _m, ...rest } = r;
  expectAccepted(rest);
});

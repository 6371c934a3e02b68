import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { geminiOptions } from '../gateway/src/providers/gemini/options';
import { toGenerateContent } from '../gateway/src/providers/gemini/request';
import { toGeminiSchema } from '../gateway/src/providers/gemini/schema';
import { requestViolation, schemaViolation } from './helpers/gemini-validate';

/** Tool input_schema → Gemini's accepted schema dialects, on Claude Code's real tool set and on the hard cases. */
const claudeCode = JSON.parse(readFileSync(join(__dirname, 'fixtures/claude-code-request.json'), 'utf8')).body;
const tools: any[] = claudeCode.tools;
const byName = (name: string) => tools.find((t) => t.name === name).input_schema;

describe('every Claude Code tool', () => {
  test.each(tools.map((t) => [t.name, t.input_schema]))('%s → OpenAPI `parameters` Gemini accepts', (_name, schema) => {
    const out = toGeminiSchema(schema, 'openapi');
    if (out === undefined) {
      expect(Object.keys(schema.properties ?? {})).toHaveLength(0); // only argument-less tools lose their schema
      return;
    }
    expect(schemaViolation(out, 'parameters')).toBeUndefined();
    expect(out.type).toBe('OBJECT');
    const text = JSON.stringify(out);
    for (const key of ['$schema', 'additionalProperties', 'propertyNames', 'exclusiveMinimum', 'const', 'oneOf']) expect(text).not.toContain(`"${key}"`);
    expect(Object.keys(out.properties)).toEqual(Object.keys(schema.properties));
  });

  test.each(tools.map((t) => [t.name, t.input_schema]))('%s → `parametersJsonSchema` without keywords Gemini ignores or rejects', (_name, schema) => {
    const out = toGeminiSchema(schema, 'jsonSchema');
    if (out === undefined) return;
    expect(out.type).toBe('object');
    const text = JSON.stringify(out);
    for (const key of ['$schema', 'propertyNames', 'exclusiveMinimum', 'const']) expect(text).not.toContain(`"${key}"`);
    expect(out.required ?? []).toEqual(schema.required ?? []);
  });

  test('the conversions the fixture needs, spelled out', () => {
    const read = toGeminiSchema(byName('Read'), 'openapi')!;
    expect(read.properties.limit).toMatchObject({ type: 'INTEGER', minimum: 1, maximum: 9007199254740991 }); // exclusiveMinimum 0 on an integer
    const update = toGeminiSchema(byName('TaskUpdate'), 'openapi')!;
    // anyOf [{enum}, {const}] of strings is one string enum.
    expect(update.properties.status).toEqual({ type: 'STRING', description: expect.any(String), enum: ['pending', 'in_progress', 'completed', 'deleted'] });
    // A free-form map (propertyNames + additionalProperties: {}) is a plain OBJECT.
    expect(update.properties.metadata).toEqual({ type: 'OBJECT', description: expect.any(String) });
    const fetch = toGeminiSchema(byName('WebFetch'), 'openapi')!;
    expect(fetch.properties.url).toEqual({ type: 'STRING', description: expect.any(String) }); // format uri is not accepted
    expect(toGeminiSchema(byName('WebFetch'), 'jsonSchema')!.properties.url.format).toBe('uri');
    const workflow = toGeminiSchema(byName('Workflow'), 'openapi')!;
    expect(workflow.properties.args).toEqual({ description: expect.any(String) }); // untyped: any value
    expect(workflow.properties.resumeFromRunId.pattern).toBe('^wf_[a-z0-9-]{6,}$');
    expect(toGeminiSchema(byName('TaskList'), 'openapi')).toBeUndefined();
    const edit = toGeminiSchema(byName('Edit'), 'jsonSchema')!;
    expect(edit.additionalProperties).toBe(false);
    expect(edit.properties.replace_all).toEqual({ type: 'boolean', description: expect.any(String), default: false });
  });

  test.each([['gemini-2.0-flash'], ['gemini-2.5-flash'], ['gemini-3-pro-preview']])(
    'the whole Claude Code request translates into a body %s accepts',
    (model) => {
      const req = toGenerateContent(claudeCode, { model, options: geminiOptions({ model }) });
      expect(requestViolation(req, { issued: new Set(), enforce: model.includes('gemini-3') })).toBeUndefined();
      expect(req.tools![0].functionDeclarations).toHaveLength(tools.length);
      expect(req.systemInstruction!.parts).toHaveLength(3);
      // The mid-conversation system message stays in place, inside the user turn.
      expect(req.contents).toHaveLength(1);
      expect(req.contents[0].parts.map((p) => p.text!.slice(0, 9))).toEqual(['<text tex', '<text tex', '<system>\n']);
    },
  );
});

describe('hard cases from the reference', () => {
  const wrap = (properties: any, extra: any = {}) => ({ type: 'object', properties, ...extra });

  test('$ref/$defs are inlined for `parameters` (recursion stops) and kept for `parametersJsonSchema`', () => {
    const schema = wrap(
      { address: { $ref: '#/$defs/Address', description: 'Where to ship' }, tree: { $ref: '#/$defs/Node' } },
      {
        $schema: 'http://json-schema.org/draft-07/schema#',
        $defs: {
          Address: { type: 'object', properties: { city: { type: 'string' }, zip: { type: 'string' } }, required: ['city'], additionalProperties: false },
          Node: { type: 'object', properties: { value: { type: 'string' }, children: { type: 'array', items: { $ref: '#/$defs/Node' } } } },
        },
      },
    );
    const o = toGeminiSchema(schema, 'openapi')!;
    expect(o.properties.address).toEqual({
      type: 'OBJECT',
      description: 'Where to ship',
      properties: { city: { type: 'STRING' }, zip: { type: 'STRING' } },
      required: ['city'],
    });
    expect(o.properties.tree.properties.children.items).toEqual({ description: expect.stringMatching(/Recursive/) });
    expect(schemaViolation(o, 'parameters')).toBeUndefined();
    const j = toGeminiSchema(schema, 'jsonSchema')!;
    expect(j.properties.address).toEqual({ $ref: '#/$defs/Address', description: 'Where to ship' });
    expect(j.$defs.Address.additionalProperties).toBe(false);
    expect(j.$schema).toBeUndefined();
  });

  test('a root that is only a $ref is inlined', () => {
    const o = toGeminiSchema({ $ref: '#/$defs/In', $defs: { In: { type: 'object', properties: { q: { type: 'string' } } } } }, 'openapi');
    expect(o).toEqual({ type: 'OBJECT', properties: { q: { type: 'STRING' } } });
  });

  test('nullable unions and type arrays', () => {
    const schema = wrap({
      a: { anyOf: [{ type: 'string' }, { type: 'null' }], description: 'optional text' },
      b: { type: ['integer', 'null'], minimum: 0 },
      c: { type: ['string', 'number'], description: 'either' },
      d: {
        oneOf: [
          { type: 'string', format: 'email' },
          { type: 'object', properties: { id: { type: 'integer' } } },
        ],
        description: 'who',
      },
    });
    const o = toGeminiSchema(schema, 'openapi')!;
    expect(o.properties.a).toEqual({ type: 'STRING', description: 'optional text', nullable: true });
    expect(o.properties.b).toEqual({ type: 'INTEGER', minimum: 0, nullable: true });
    expect(o.properties.c).toEqual({
      anyOf: [
        { type: 'STRING', description: 'either' },
        { type: 'NUMBER', description: 'either' },
      ],
    });
    expect(o.properties.d).toEqual({
      anyOf: [
        { type: 'STRING', description: 'who' },
        { type: 'OBJECT', description: 'who', properties: { id: { type: 'INTEGER' } } },
      ],
    });
    expect(schemaViolation(o, 'parameters')).toBeUndefined();
    const j = toGeminiSchema(schema, 'jsonSchema')!;
    expect(j.properties.a).toEqual({ description: 'optional text', anyOf: [{ type: 'string' }, { type: 'null' }] });
    expect(j.properties.c).toEqual({ description: 'either', anyOf: [{ type: 'string' }, { type: 'number' }] });
    expect(j.properties.d.anyOf[0]).toEqual({ type: 'string', format: 'email' });
  });

  test('const, numeric enums, empty enum values, allOf, required names that are not properties, tuples', () => {
    const schema = wrap(
      {
        kind: { const: 'fixed' },
        level: { type: 'integer', enum: [1, 2, 3], description: 'Level.' },
        mode: { type: 'string', enum: ['', 'fast', 'slow'] },
        both: {
          allOf: [{ type: 'object', properties: { x: { type: 'number' } }, required: ['x'] }, { properties: { y: { type: 'number', exclusiveMaximum: 10 } } }],
        },
        pair: { type: 'array', prefixItems: [{ type: 'number' }, { type: 'number' }] },
        when: { type: 'string', format: 'date-time', examples: ['2026-01-01T00:00:00Z'], $comment: 'iso' },
      },
      { required: ['kind', 'ghost'] },
    );
    const o = toGeminiSchema(schema, 'openapi')!;
    expect(o.properties.kind).toEqual({ type: 'STRING', enum: ['fixed'] });
    expect(o.properties.level).toEqual({ type: 'INTEGER', description: 'Level. One of: 1, 2, 3.' });
    expect(o.properties.mode).toEqual({ type: 'STRING', enum: ['fast', 'slow'] });
    expect(o.properties.both).toEqual({ type: 'OBJECT', properties: { x: { type: 'NUMBER' }, y: { type: 'NUMBER', maximum: 10 } }, required: ['x'] });
    expect(o.properties.pair).toEqual({ type: 'ARRAY', items: { anyOf: [{ type: 'NUMBER' }, { type: 'NUMBER' }] } });
    expect(o.properties.when).toEqual({ type: 'STRING', format: 'date-time', example: '2026-01-01T00:00:00Z' });
    expect(o.required).toEqual(['kind']);
    expect(schemaViolation(o, 'parameters')).toBeUndefined();
    expect(toGeminiSchema(schema, 'jsonSchema')!.properties.level.enum).toEqual([1, 2, 3]);
  });
});

/**
 * JSON Schemas for the Messages API requests. They check what the gateway and any translator rely
 * on, and nothing more: unknown fields, unknown block types and unknown roles are left alone so
 * they reach Anthropic upstreams untouched (new API features must not need a gateway release).
 */
const cacheControl = { type: 'object', required: ['type'], properties: { type: { type: 'string' } } };

const base64Image = {
  type: 'object',
  required: ['type', 'media_type', 'data'],
  properties: {
    type: { const: 'base64' },
    media_type: { enum: ['image/jpeg', 'image/png', 'image/gif', 'image/webp'] },
    data: { type: 'string' },
  },
};

const sourceByType = (cases: Record<string, object>) => ({
  type: 'object',
  required: ['type'],
  properties: { type: { type: 'string' } },
  allOf: Object.entries(cases).map(([t, then]) => ({ if: { properties: { type: { const: t } } }, then })),
});

const imageSource = sourceByType({
  base64: base64Image,
  url: { required: ['url'], properties: { url: { type: 'string', minLength: 1 } } },
  file: { required: ['file_id'], properties: { file_id: { type: 'string' } } },
});

const documentSource = sourceByType({
  base64: { required: ['media_type', 'data'], properties: { media_type: { const: 'application/pdf' }, data: { type: 'string' } } },
  text: { required: ['media_type', 'data'], properties: { media_type: { const: 'text/plain' }, data: { type: 'string' } } },
  content: { required: ['content'], properties: { content: { type: ['string', 'array'] } } },
  url: { required: ['url'], properties: { url: { type: 'string', minLength: 1 } } },
  file: { required: ['file_id'], properties: { file_id: { type: 'string' } } },
});

const blockCases: Record<string, object> = {
  text: { required: ['text'], properties: { text: { type: 'string' }, cache_control: cacheControl } },
  image: { required: ['source'], properties: { source: imageSource, cache_control: cacheControl } },
  document: { required: ['source'], properties: { source: documentSource, cache_control: cacheControl } },
  tool_use: {
    required: ['id', 'name', 'input'],
    properties: { id: { type: 'string', minLength: 1 }, name: { type: 'string', minLength: 1 }, input: { type: 'object' } },
  },
  tool_result: {
    required: ['tool_use_id'],
    properties: {
      tool_use_id: { type: 'string', minLength: 1 },
      content: { anyOf: [{ type: 'string' }, { type: 'array', items: { $ref: '#/$defs/block' } }] },
      is_error: { type: 'boolean' },
    },
  },
  thinking: { required: ['thinking'], properties: { thinking: { type: 'string' }, signature: { type: 'string' } } },
  redacted_thinking: { required: ['data'], properties: { data: { type: 'string' } } },
};

const block = {
  type: 'object',
  required: ['type'],
  properties: { type: { type: 'string', minLength: 1 } },
  allOf: Object.entries(blockCases).map(([t, then]) => ({ if: { properties: { type: { const: t } }, required: ['type'] }, then })),
};

const content = { anyOf: [{ type: 'string' }, { type: 'array', items: { $ref: '#/$defs/block' } }] };

const tool = {
  type: 'object',
  required: ['name'],
  properties: { name: { type: 'string', minLength: 1, maxLength: 128 }, type: { type: 'string' } },
  // A custom tool (no type, or type "custom") needs an object input_schema; Anthropic-defined
  // tools (bash_20250124, web_search_…) carry their own fields and pass as they are.
  if: { anyOf: [{ not: { required: ['type'] } }, { properties: { type: { const: 'custom' } } }] },
  then: {
    required: ['input_schema'],
    properties: { input_schema: { type: 'object', properties: { type: { const: 'object' } } }, description: { type: 'string' } },
  },
};

const toolChoice = {
  type: 'object',
  required: ['type'],
  properties: { type: { enum: ['auto', 'any', 'tool', 'none'] }, disable_parallel_tool_use: { type: 'boolean' } },
  if: { properties: { type: { const: 'tool' } } },
  then: { required: ['name'], properties: { name: { type: 'string', minLength: 1 } } },
};

const thinking = {
  type: 'object',
  required: ['type'],
  properties: { type: { type: 'string' } },
  if: { properties: { type: { const: 'enabled' } } },
  then: { required: ['budget_tokens'], properties: { budget_tokens: { type: 'integer', minimum: 0 } } },
};

const system = { anyOf: [{ type: 'string' }, { type: 'array', items: { $ref: '#/$defs/block' } }] };

const common = {
  model: { type: 'string', minLength: 1, maxLength: 256 },
  messages: {
    type: 'array',
    // Anthropic refuses an empty list ("at least one message is required"); translators assume one.
    minItems: 1,
    maxItems: 100000,
    items: {
      type: 'object',
      required: ['role', 'content'],
      properties: { role: { type: 'string', minLength: 1 }, content },
    },
  },
  system,
  tools: { type: 'array', items: tool },
  tool_choice: toolChoice,
  thinking,
};

export const messagesRequestSchema = {
  $defs: { block },
  type: 'object',
  required: ['model', 'messages', 'max_tokens'],
  properties: {
    ...common,
    max_tokens: { type: 'integer', minimum: 0, maximum: 2147483647 },
    stream: { type: 'boolean' },
    temperature: { type: 'number', minimum: 0 },
    top_p: { type: 'number', minimum: 0, maximum: 1 },
    top_k: { type: 'integer', minimum: 0, maximum: 2147483647 },
    stop_sequences: { type: 'array', items: { type: 'string' } },
    metadata: { type: 'object', properties: { user_id: { type: ['string', 'null'] } } },
  },
};

export const countTokensRequestSchema = {
  $defs: { block },
  type: 'object',
  required: ['model', 'messages'],
  properties: common,
};

import Ajv from 'ajv';

const limits = {
  type: 'object',
  additionalProperties: false,
  properties: {
    requestsPerMinute: { type: 'number', minimum: 0 },
    inputTokensPerMinute: { type: 'number', minimum: 0 },
    outputTokensPerMinute: { type: 'number', minimum: 0 },
    maxConcurrent: { type: 'number', minimum: 0 },
  },
};

const pricing = {
  type: 'object',
  additionalProperties: false,
  properties: {
    inputPerMTok: { type: 'number', minimum: 0 },
    outputPerMTok: { type: 'number', minimum: 0 },
    cacheReadPerMTok: { type: 'number', minimum: 0 },
    cacheWritePerMTok: { type: 'number', minimum: 0 },
    cacheWrite1hPerMTok: { type: 'number', minimum: 0 },
  },
};

const stringMap = { type: 'object', additionalProperties: { type: 'string' } };

export const snapshotSchema = {
  type: 'object',
  required: ['version', 'serial', 'routes', 'keys'],
  properties: {
    version: { type: 'string', minLength: 1, maxLength: 200 },
    serial: { type: 'number', minimum: 0 },
    generatedAt: { type: 'string' },
    gateways: { type: 'integer', minimum: 1 },
    routes: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name', 'model', 'aliases', 'targets', 'retry'],
        additionalProperties: false,
        properties: {
          name: { type: 'string', minLength: 1 },
          model: { type: 'string', minLength: 1 },
          aliases: { type: 'array', items: { type: 'string', minLength: 1 } },
          displayName: { type: 'string' },
          createdAt: { type: 'string' },
          targets: {
            type: 'array',
            minItems: 1,
            items: {
              type: 'object',
              required: ['provider', 'model', 'baseURL', 'weight', 'priority', 'connectTimeoutSeconds', 'timeoutSeconds', 'idleTimeoutSeconds'],
              additionalProperties: false,
              properties: {
                provider: { enum: ['anthropic', 'openai', 'gemini', 'bedrock', 'vertex'] },
                model: { type: 'string', minLength: 1 },
                baseURL: { type: 'string', pattern: '^https?://' },
                apiKey: { type: 'string' },
                weight: { type: 'number', minimum: 0 },
                priority: { type: 'integer', minimum: 0 },
                connectTimeoutSeconds: { type: 'number', exclusiveMinimum: 0 },
                timeoutSeconds: { type: 'number', exclusiveMinimum: 0 },
                idleTimeoutSeconds: { type: 'number', exclusiveMinimum: 0 },
                maxDurationSeconds: { type: 'number', exclusiveMinimum: 0 },
                headers: stringMap,
                options: { type: 'object', additionalProperties: { type: ['string', 'number', 'boolean', 'array'], items: { type: 'string' } } },
                region: { type: 'string', minLength: 1 },
                project: { type: 'string', minLength: 1 },
                aws: {
                  type: 'object',
                  required: ['accessKeyId', 'secretAccessKey'],
                  additionalProperties: false,
                  properties: { accessKeyId: { type: 'string' }, secretAccessKey: { type: 'string' }, sessionToken: { type: 'string' } },
                },
                googleServiceAccount: { type: 'string' },
                pricing,
              },
            },
          },
          retry: {
            type: 'object',
            required: ['attempts', 'on'],
            additionalProperties: false,
            properties: {
              attempts: { type: 'integer', minimum: 1, maximum: 10 },
              on: { type: 'array', items: { enum: ['429', '5xx', 'timeout', 'connect'] } },
            },
          },
          limits,
          pricing,
          shadows: {
            type: 'array',
            items: {
              type: 'object',
              required: ['name', 'target', 'percent', 'sampleBy', 'timeoutSeconds', 'maxConcurrent', 'revision'],
              additionalProperties: false,
              properties: {
                name: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', maxLength: 63 },
                // The same shape as a route's target, whatever fields targets gain.
                target: { $ref: '#/properties/routes/items/properties/targets/items' },
                percent: { type: 'number', exclusiveMinimum: 0, maximum: 100 },
                sampleBy: { enum: ['request', 'apiKey'] },
                timeoutSeconds: { type: 'number', exclusiveMinimum: 0 },
                maxConcurrent: { type: 'integer', minimum: 1 },
                revision: { type: 'string', minLength: 1 },
              },
            },
          },
        },
      },
    },
    keys: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name', 'allowedModels'],
        anyOf: [{ required: ['sha256'] }, { required: ['serviceAccounts'] }],
        additionalProperties: false,
        properties: {
          name: { type: 'string', minLength: 1 },
          sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' },
          serviceAccounts: {
            type: 'array',
            items: {
              type: 'object',
              required: ['namespace', 'name'],
              additionalProperties: false,
              properties: { namespace: { type: 'string', minLength: 1 }, name: { type: 'string', minLength: 1 } },
            },
          },
          allowedModels: { type: 'array', items: { type: 'string' } },
          limits,
          disabled: { type: 'boolean' },
          expiresAt: { type: 'string' },
          budget: {
            type: 'object',
            required: ['usd', 'period'],
            additionalProperties: false,
            properties: {
              usd: { type: 'number', minimum: 0 },
              period: { enum: ['day', 'week', 'month'] },
              timezone: { type: 'string' },
            },
          },
        },
      },
    },
    serviceAccountAuth: {
      type: 'object',
      required: ['issuer', 'audience', 'jwks'],
      additionalProperties: false,
      properties: {
        issuer: { type: 'string', minLength: 1 },
        audience: { type: 'string', minLength: 1 },
        jwks: {
          type: 'object',
          required: ['keys'],
          properties: { keys: { type: 'array', items: { type: 'object' } } },
        },
      },
    },
  },
} as const;

const ajv = new Ajv({ allErrors: false, strict: false });
const check = ajv.compile(snapshotSchema);

/** Returns null when valid, else a message naming the offending path. */
export function snapshotError(value: unknown): string | null {
  if (check(value)) return null;
  const e = check.errors![0];
  const path = e.instancePath.replace(/^\//, '').replace(/\//g, '.') || '(root)';
  return `${path}: ${e.message}`;
}

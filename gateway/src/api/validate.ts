import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import { invalidRequest } from '../core/errors';
import { countTokensRequestSchema, messagesRequestSchema } from './schema';

const ajv = new Ajv({ allErrors: false, strict: false });
const validators = {
  messages: ajv.compile(messagesRequestSchema),
  count_tokens: ajv.compile(countTokensRequestSchema),
};

/** Throws a 400 whose message names the field, e.g. `messages.2.content.0.source.media_type: …`. */
export function validateRequest(kind: keyof typeof validators, body: unknown): void {
  const check: ValidateFunction = validators[kind];
  if (check(body)) return;
  throw invalidRequest(describe(check.errors ?? []));
}

function describe(errors: ErrorObject[]): string {
  // The deepest error is the specific one: `if/then`, `anyOf` and `allOf` add wrappers above it, and
  // an `anyOf` over string|list reports one mismatch per branch, which we merge into one message.
  const specific = errors.filter((x) => !['if', 'anyOf', 'allOf'].includes(x.keyword));
  if (specific.length === 0) return errors[0] ? `${errors[0].instancePath || 'body'}: ${errors[0].message}` : 'invalid request';
  const depth = (x: ErrorObject) => x.instancePath.split('/').length + (x.keyword === 'required' ? 1 : 0);
  const deepest = Math.max(...specific.map(depth));
  const atDeepest = specific.filter((x) => depth(x) === deepest);
  const e = atDeepest[0];
  if (e.keyword === 'type' && atDeepest.every((x) => x.keyword === 'type' && x.instancePath === e.instancePath)) {
    const path = e.instancePath.replace(/^\//, '').split('/').filter(Boolean);
    return `${path.join('.') || 'body'}: Input should be a valid ${describeType(atDeepest.flatMap((x) => x.params.type))}`;
  }
  const path = e.instancePath.replace(/^\//, '').split('/').filter(Boolean);
  if (e.keyword === 'minItems' && e.instancePath === '/messages') return 'messages: at least one message is required';
  switch (e.keyword) {
    case 'required':
      return `${[...path, e.params.missingProperty].join('.')}: Field required`;
    case 'enum':
      return `${path.join('.')}: Input should be ${(e.params.allowedValues as unknown[]).map((v) => `'${v}'`).join(', ')}`;
    case 'const':
      return `${path.join('.')}: Input should be '${e.params.allowedValue}'`;
    case 'type':
      return `${path.join('.') || 'body'}: Input should be a valid ${describeType(e.params.type)}`;
    default:
      return `${path.join('.') || 'body'}: ${e.message}`;
  }
}

function describeType(t: string | string[]): string {
  const names: Record<string, string> = {
    object: 'dictionary',
    array: 'list',
    integer: 'integer',
    number: 'number',
    string: 'string',
    boolean: 'boolean',
    null: 'null',
  };
  return (Array.isArray(t) ? t : [t]).map((x) => names[x] ?? x).join(' or ');
}

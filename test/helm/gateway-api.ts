/**
 * The HTTPRoute (gateway.networking.k8s.io/v1) schema, for the chart test: no package here ships
 * the Gateway API CRDs, so this transcribes the parts of the standard-channel v1.2 CRD's
 * openAPIV3Schema the chart can render (parentRefs, hostnames, rules with backendRefs, matches and
 * timeouts), with its patterns, bounds and required fields, and rejects any other field as the
 * API server's strict field validation would.
 */
import Ajv from 'ajv';

const name = { type: 'string', minLength: 1, maxLength: 253 };
const sectionName = { type: 'string', minLength: 1, maxLength: 253, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$' };
const namespace = { type: 'string', minLength: 1, maxLength: 63, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' };
const group = { type: 'string', maxLength: 253, pattern: '^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$' };
const kind = { type: 'string', minLength: 1, maxLength: 63, pattern: '^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$' };
const port = { type: 'integer', minimum: 1, maximum: 65535 };
const duration = { type: 'string', pattern: '^([0-9]{1,5}(h|m|s|ms)){1,4}$' };
const hostname = { type: 'string', minLength: 1, maxLength: 253, pattern: '^(\\*\\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$' };
const strict = (properties: object, required: string[] = []) => ({ type: 'object', additionalProperties: false, properties, required });

const schema = strict(
  {
    apiVersion: { const: 'gateway.networking.k8s.io/v1' },
    kind: { const: 'HTTPRoute' },
    metadata: { type: 'object', required: ['name'] },
    spec: strict({
      parentRefs: { type: 'array', maxItems: 32, items: strict({ group, kind, namespace, name, sectionName, port }, ['name']) },
      hostnames: { type: 'array', maxItems: 16, items: hostname },
      rules: {
        type: 'array',
        minItems: 1,
        maxItems: 16,
        items: strict({
          name: sectionName,
          matches: {
            type: 'array',
            maxItems: 64,
            items: strict({
              path: strict({ type: { enum: ['Exact', 'PathPrefix', 'RegularExpression'] }, value: { type: 'string', maxLength: 1024 } }),
              headers: { type: 'array', maxItems: 16 },
              queryParams: { type: 'array', maxItems: 16 },
              method: { enum: ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'] },
            }),
          },
          backendRefs: {
            type: 'array',
            maxItems: 16,
            items: strict({ group, kind, namespace, name, port, weight: { type: 'integer', minimum: 0, maximum: 1000000 } }, ['name']),
          },
          timeouts: strict({ request: duration, backendRequest: duration }),
        }),
      },
    }),
  },
  ['apiVersion', 'kind', 'metadata', 'spec'],
);

const validate = new Ajv({ allErrors: true }).compile(schema);

/** Validation errors of an HTTPRoute, as `path message` strings (empty when valid). */
export function httpRouteErrors(obj: object): string[] {
  return validate(obj)
    ? []
    : (validate.errors ?? []).map(
        (e) => `${e.instancePath} ${e.message}${e.params && 'additionalProperty' in e.params ? ` (${String(e.params.additionalProperty)})` : ''}`,
      );
}

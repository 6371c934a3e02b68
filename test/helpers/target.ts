import type { Target } from '../../gateway/src/core/routes';

/** A compiled target as routing hands it to a provider, with the timeouts tests do not care about; `fields` override. */
export function compiledTarget(baseURL: string, fields: Partial<Target> = {}): Target {
  return {
    id: 't1',
    provider: 'anthropic',
    model: 'm',
    baseURL,
    weight: 1,
    priority: 0,
    connectTimeoutSeconds: 5,
    timeoutSeconds: 30,
    idleTimeoutSeconds: 30,
    ...fields,
  };
}

import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';

/** One Prometheus registry per gateway instance (tests run several gateways in one process). */
export function createRegistry(): { registry: Registry; configInfo: Gauge<'version'> } {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const configInfo = new Gauge({
    name: 'switchyard_config_info',
    help: 'The configuration snapshot this gateway serves (value 1 on the current version).',
    labelNames: ['version'],
    registers: [registry],
  });
  return { registry, configInfo };
}

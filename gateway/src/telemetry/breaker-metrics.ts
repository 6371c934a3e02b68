import { Gauge, type Registry } from 'prom-client';
import type { CircuitBreakers } from '../routing/breaker';
import { targetId } from '../routing/table';
import type { RoutingTable } from '../core/routes';
import type { TargetSnapshot } from '../config/snapshot';

/**
 * The label of a target in `switchyard_upstream_breaker_open`: `<provider>/<model>`, which names
 * the upstream without its URL or key (the breaker's own id hashes the key in, and a URL may hold
 * credentials). Two targets of one route with the same provider and model (two regions, say) get
 * their 1-based position in the route appended, so their series stay apart.
 */
export function breakerTargetLabels(targets: TargetSnapshot[]): string[] {
  const base = targets.map((t) => `${t.provider}/${t.model}`);
  const count = new Map<string, number>();
  for (const b of base) count.set(b, (count.get(b) ?? 0) + 1);
  return base.map((b, i) => (count.get(b)! > 1 ? `${b}#${i + 1}` : b));
}

/**
 * 1 while a target's circuit is open (ejected, or its single half-open probe in flight), else 0;
 * one series per target of the current configuration, read at scrape time, so a target that
 * leaves the configuration leaves the metric too.
 */
export function installBreakerGauge(registry: Registry, breakers: CircuitBreakers, table: () => RoutingTable | undefined): Gauge<'route' | 'target'> {
  return new Gauge({
    name: 'switchyard_upstream_breaker_open',
    help: "1 while the circuit breaker of a route's target is open (the target is skipped after repeated failures), 0 when it takes traffic.",
    labelNames: ['route', 'target'],
    registers: [registry],
    collect() {
      this.reset();
      const t = table();
      if (!t) return;
      for (const route of t.snapshot.routes) {
        const labels = breakerTargetLabels(route.targets);
        route.targets.forEach((target, i) => this.set({ route: route.name, target: labels[i] }, breakers.isOpen(targetId(target)) ? 1 : 0));
      }
    },
  });
}

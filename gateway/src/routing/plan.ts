import type { CircuitBreakers } from './breaker';
import type { Route, Target } from '../core/routes';

/**
 * The order in which a request tries a route's targets: priority groups ascending (a higher
 * priority is a fallback); inside a group, a weighted random order so equal-priority targets share
 * load by weight and a retry goes to a different target when there is one.
 * Targets with an open circuit are left out while any other target remains; a route whose every
 * target is ejected still tries them all rather than failing without a try.
 */
export function planGroups(route: Route, breakers: CircuitBreakers, random: () => number = Math.random): Target[][] {
  if (route.targets.length === 1) return [route.targets];
  const byPriority = new Map<number, Target[]>();
  for (const t of route.targets) {
    if (t.weight <= 0 && route.targets.some((o) => o.priority === t.priority && o.weight > 0)) continue;
    const g = byPriority.get(t.priority) ?? [];
    g.push(t);
    byPriority.set(t.priority, g);
  }
  const all = [...byPriority.keys()].sort((a, b) => a - b).map((p) => weightedOrder(byPriority.get(p)!, random));
  const healthy = all.map((g) => g.filter((t) => !breakers.isOpen(t.id))).filter((g) => g.length > 0);
  return healthy.length > 0 ? healthy : all;
}

/** Weighted sampling without replacement (Efraimidis–Spirakis keys). */
export function weightedOrder<T extends { weight: number }>(items: T[], random: () => number = Math.random): T[] {
  if (items.length <= 1) return items.slice();
  return items
    .map((item) => ({ item, key: Math.pow(random(), 1 / Math.max(item.weight, 1e-9)) }))
    .sort((a, b) => b.key - a.key)
    .map((x) => x.item);
}

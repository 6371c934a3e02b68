/**
 * Series caches keyed by several label values, found level by level through nested maps. A joined
 * key (`route + '\u0001' + provider + …`) was a new string per lookup on every request: a
 * concatenation per part, then flattened and hashed by the map. Label values are bounded
 * (configured names or fixed words, see labels.ts), and so is the tree.
 */
export type LabelTree = Map<string, unknown>;

/** The map under `key`, made the first time it is asked for. */
export function branch(tree: LabelTree, key: string): LabelTree {
  let next = tree.get(key) as LabelTree | undefined;
  if (next === undefined) tree.set(key, (next = new Map()));
  return next;
}

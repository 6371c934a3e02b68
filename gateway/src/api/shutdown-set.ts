/** Something in flight that a drain running out of time must stop (a request waiting on its upstream, an open stream). */
export interface Shutdownable {
  shutdown(): void;
}

const sets = new WeakMap<AbortSignal, Set<Shutdownable>>();

/**
 * What is in flight when a shutdown signal fires: one EventTarget listener per signal rather than
 * one per request or stream (adding and removing one costs microseconds; a Set entry next to
 * nothing). Entries remove themselves when they end.
 */
export function shutdownSet(signal: AbortSignal): Set<Shutdownable> {
  let set = sets.get(signal);
  if (!set) {
    const s = (set = new Set());
    sets.set(signal, s);
    signal.addEventListener('abort', () => s.forEach((x) => x.shutdown()), { once: true });
  }
  return set;
}

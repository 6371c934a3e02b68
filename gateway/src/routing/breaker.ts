/**
 * Per-target circuit breaker. A target that fails `threshold` times in a row is ejected for
 * `cooldownMs`; after that one request probes it (half-open) and its outcome closes or re-opens it.
 * Keyed by target id so state survives snapshot swaps that keep the target.
 */
interface State {
  failures: number;
  openedAt: number;
  probing: boolean;
}

export class CircuitBreakers {
  private readonly states = new Map<string, State>();

  constructor(
    private readonly threshold = 5,
    private readonly cooldownMs = 30_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether a request may go to the target now. Claims the half-open probe slot if it is free. */
  allow(id: string): boolean {
    const s = this.states.get(id);
    if (!s || s.failures < this.threshold) return true;
    if (this.now() - s.openedAt < this.cooldownMs) return false;
    if (s.probing) return false;
    s.probing = true;
    return true;
  }

  isOpen(id: string): boolean {
    const s = this.states.get(id);
    return !!s && s.failures >= this.threshold && (s.probing || this.now() - s.openedAt < this.cooldownMs);
  }

  success(id: string): void {
    this.states.delete(id);
  }

  failure(id: string): void {
    const s = this.states.get(id) ?? { failures: 0, openedAt: 0, probing: false };
    s.failures++;
    if (s.failures >= this.threshold) {
      s.openedAt = this.now();
      s.probing = false;
    }
    this.states.set(id, s);
  }
}

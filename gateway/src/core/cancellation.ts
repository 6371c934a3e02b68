/**
 * What stops a request's upstream work when the client leaves or the gateway gives up: `aborted`,
 * `reason` and 'abort' listeners, which the gateway's own waits and its upstream exchanges follow.
 * Under Node 20 an AbortSignal costs about 15 µs to create (more than the rest of the routing of a
 * request); most requests never need one, so a real AbortSignal is only made when something asks
 * for `signal`, and follows this one from then on.
 *
 * Not an EventEmitter: every request makes one and most add and remove a single listener, which an
 * emitter does through its listener table, `newListener`/`removeListener` checks and a `once`
 * wrapper. The EventEmitter methods used on it (`on`, `once`, `removeListener`, `listenerCount`)
 * keep their meaning for its one event: listeners run in the order added, once each (there is only
 * one abort), and a listener added twice runs twice; once the abort is told, all are let go.
 */
export class Cancellation {
  aborted = false;
  reason: unknown = undefined;
  private controller?: AbortController = undefined;
  /** The first listener in a field, any more in an array: nearly always there is one at most. */
  private first: (() => void) | undefined = undefined;
  private more: (() => void)[] | undefined = undefined;

  abort(reason: unknown = new DOMException('This operation was aborted', 'AbortError')): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    const { first, more } = this;
    this.first = this.more = undefined;
    first?.();
    if (more) for (const l of more) l();
    this.controller?.abort(reason);
  }

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.aborted) this.controller.abort(this.reason);
    }
    return this.controller.signal;
  }

  on(_event: 'abort', listener: () => void): this {
    if (this.aborted) return this; // an emitter's listener added after its only event never runs
    if (this.first === undefined && this.more === undefined) this.first = listener;
    else (this.more ??= []).push(listener);
    return this;
  }

  once(event: 'abort', listener: () => void): this {
    return this.on(event, listener);
  }

  /** Removes the listener's latest registration, as an emitter does. */
  removeListener(_event: 'abort', listener: () => void): this {
    const { more } = this;
    if (more) {
      const i = more.lastIndexOf(listener);
      if (i >= 0) {
        more.splice(i, 1);
        return this;
      }
    }
    if (this.first === listener) {
      this.first = undefined;
      // Order is kept: the next one added goes after what is left.
      if (more?.length) this.first = more.shift();
      if (more?.length === 0) this.more = undefined;
    }
    return this;
  }

  listenerCount(_event: 'abort'): number {
    return (this.first ? 1 : 0) + (this.more?.length ?? 0);
  }
}

/**
 * `listener` runs once when `client` aborts. The client's signal is a Cancellation (the gateway's
 * own, per request) or an AbortSignal (a provider's, or a test's); whoever follows it must say
 * which way it listens, and stop the same way (unfollowAbort).
 */
export function followAbort(client: AbortSignal | Cancellation, listener: () => void): void {
  if (client instanceof Cancellation) client.on('abort', listener);
  else client.addEventListener('abort', listener, { once: true });
}

/** Stops what followAbort started. */
export function unfollowAbort(client: AbortSignal | Cancellation, listener: () => void): void {
  if (client instanceof Cancellation) client.removeListener('abort', listener);
  else client.removeEventListener('abort', listener);
}

import { EventEmitter } from 'node:events';

/**
 * What stops a request's upstream work when the client leaves or the gateway gives up: an
 * EventEmitter with `aborted` and `reason`, which undici and the gateway's own waits listen to.
 * Under Node 20 an AbortSignal costs about 15 µs to create (more than the rest of the routing of a
 * request); most requests never need one, so a real AbortSignal is only made when something asks
 * for `signal`, and follows this one from then on.
 */
export class Cancellation extends EventEmitter {
  aborted = false;
  reason: unknown = undefined;
  private controller?: AbortController;

  abort(reason: unknown = new DOMException('This operation was aborted', 'AbortError')): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.emit('abort');
    this.controller?.abort(reason);
  }

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.aborted) this.controller.abort(this.reason);
    }
    return this.controller.signal;
  }
}

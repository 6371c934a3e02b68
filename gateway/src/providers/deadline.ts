import { EventEmitter } from 'node:events';
import { Cancellation } from '../core/cancellation';
import { UpstreamFailure } from '../core/upstream';

/** When a target sets no `maxDurationSeconds`: generous enough for the longest streamed answers. */
export const DEFAULT_MAX_DURATION_SECONDS = 1800;

/**
 * The signal undici is given for one attempt. undici takes an EventEmitter with `aborted` and
 * `reason` as it takes an AbortSignal, and one costs far less on the hot path than an
 * AbortController per attempt (an EventTarget, with EventTarget listeners, made for every request).
 */
export class ExchangeSignal extends EventEmitter {
  aborted = false;
  reason: unknown = undefined;

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.emit('abort');
  }
}

export interface Deadline {
  /** Aborts when the client's signal does, or with an UpstreamFailure('timeout') when time is up. */
  signal: ExchangeSignal;
  /** Stops the timer and lets go of the client's signal; call once the exchange is over. */
  clear(): void;
}

/**
 * A whole-exchange deadline for one upstream attempt. undici's own timeouts cannot give one:
 * headersTimeout ends at the first byte and bodyTimeout is per chunk, so an upstream trickling a
 * byte now and then could hold a request (and its connection) open forever. The abort reason is
 * the failure itself, so whatever undici throws (before headers, or while the body is read) is
 * already classified as a timeout.
 */
export function exchangeDeadline(client: AbortSignal | Cancellation, seconds: number, describe: () => string): Deadline {
  const ac = new ExchangeSignal();
  const onClientAbort = () => ac.abort(client.reason);
  const timer = setTimeout(
    () => ac.abort(new UpstreamFailure('timeout', `${describe()} did not finish within ${seconds}s (maxDurationSeconds)`)),
    seconds * 1000,
  );
  timer.unref();
  if (client.aborted) onClientAbort();
  else if (client instanceof Cancellation) client.on('abort', onClientAbort);
  else client.addEventListener('abort', onClientAbort, { once: true });
  return {
    signal: ac,
    clear() {
      clearTimeout(timer);
      if (client instanceof Cancellation) client.removeListener('abort', onClientAbort);
      else client.removeEventListener('abort', onClientAbort);
    },
  };
}

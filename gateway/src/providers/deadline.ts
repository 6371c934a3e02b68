import { followAbort, unfollowAbort, type Cancellation } from '../core/cancellation';
import { Due, startDue, stopDue } from '../core/due-list';
import { UpstreamFailure } from '../core/upstream';

/** When a target sets no `maxDurationSeconds`: generous enough for the longest streamed answers. */
export const DEFAULT_MAX_DURATION_SECONDS = 1800;

/**
 * The signal undici is given for one attempt. undici takes any object with `aborted`, `reason` and
 * `addEventListener`/`removeEventListener` as it takes an AbortSignal, and adds one listener. An
 * AbortController per attempt costs far more on the hot path (an EventTarget, with EventTarget
 * listeners); an EventEmitter made undici wrap its listener in a `once` wrapper (a bound function
 * and its state, in the emitter's listener table) kept for the exchange's life, a stream's whole
 * life. Here the one listener is a field; any more (nobody adds them today) go in an array.
 */
export class ExchangeSignal {
  aborted = false;
  reason: unknown = undefined;
  private listener: (() => void) | undefined = undefined;
  private more: (() => void)[] | undefined = undefined;

  addEventListener(_type: 'abort', listener: () => void): void {
    if (this.listener === undefined) this.listener = listener;
    else (this.more ??= []).push(listener);
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    if (this.listener === listener) this.listener = undefined;
    else if (this.more) {
      const i = this.more.indexOf(listener);
      if (i >= 0) this.more.splice(i, 1);
    }
  }

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    // Each listener hears it once, as with `{ once: true }`.
    const first = this.listener;
    const more = this.more;
    this.listener = undefined;
    this.more = undefined;
    first?.();
    if (more) for (const l of more) l();
  }
}

/** What an attempt past its target's `maxDurationSeconds` fails with, whichever way it was sent. */
export function maxDurationFailure(target: string, seconds: number): UpstreamFailure {
  return new UpstreamFailure('timeout', `${target} did not finish within ${seconds}s (maxDurationSeconds)`);
}

export interface Deadline {
  /** Aborts when the client's signal does, or with an UpstreamFailure('timeout') when time is up. */
  signal: ExchangeSignal;
  /** Takes the deadline off its list and lets go of the client's signal; call once the exchange is over. */
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
  return new ExchangeDeadline(client, seconds, describe);
}

/**
 * One object per attempt for what was a Timeout, its closure, a signal, a result object and
 * three closures over a shared context: a stream holds its deadline for its whole life, and at
 * thousands of live streams each of those is memory per stream. The deadline is an entry in the
 * shared list of its length (../core/due-list), as a whole reply's is.
 */
class ExchangeDeadline extends Due implements Deadline {
  readonly signal = new ExchangeSignal();
  readonly clear = (): void => {
    stopDue(this);
    unfollowAbort(this.client, this.onClientAbort);
  };
  private readonly onClientAbort = (): void => this.signal.abort(this.client.reason);

  constructor(
    private readonly client: AbortSignal | Cancellation,
    private readonly seconds: number,
    private readonly describe: () => string,
  ) {
    super();
    startDue(this, seconds * 1000);
    if (client.aborted) this.onClientAbort();
    else followAbort(client, this.onClientAbort);
  }

  expired(): void {
    this.signal.abort(maxDurationFailure(this.describe(), this.seconds));
  }
}

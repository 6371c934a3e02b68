import type { AttemptRecord, CallContext } from './call';
import type { Target } from './routes';

/** What a feature (metrics, tracing, access log) may hook into. Every method is optional. */
export interface Observer {
  requestStart?(call: CallContext): void;
  /** Before an upstream attempt; may return headers to add to the upstream request (trace context). */
  attemptStart?(call: CallContext, target: Target, n: number): Record<string, string> | void;
  attemptEnd?(call: CallContext, attempt: AttemptRecord): void;
  firstToken?(call: CallContext): void;
  /** Exactly once per request, after the last byte went out or the client went away. */
  requestEnd?(call: CallContext): void;
  /**
   * Set by an observer that reads the client's parsed body (`call.body`) after the upstream has
   * answered (tracing: request attributes, captured content). Without one, a streamed request lets
   * go of it once its stream starts: it is the largest thing most requests hold.
   */
  readonly readsRequestBody?: boolean;
}

/** Fans calls out to every observer; one observer throwing never breaks a request or the others. */
export class Observers implements Required<Observer> {
  private readonly list: Observer[] = [];

  constructor(private readonly onError: (err: unknown) => void = () => undefined) {}

  readsRequestBody = false;

  add(o: Observer): void {
    this.list.push(o);
    if (o.readsRequestBody) this.readsRequestBody = true;
  }

  // A try per observer, written out rather than through a closure per call: these run several
  // times per request for every observer.
  requestStart(call: CallContext): void {
    for (const o of this.list) {
      try {
        o.requestStart?.(call);
      } catch (err) {
        this.onError(err);
      }
    }
  }

  attemptStart(call: CallContext, target: Target, n: number): Record<string, string> {
    const headers: Record<string, string> = {};
    for (const o of this.list) {
      try {
        const h = o.attemptStart?.(call, target, n);
        if (h) Object.assign(headers, h);
      } catch (err) {
        this.onError(err);
      }
    }
    return headers;
  }

  attemptEnd(call: CallContext, attempt: AttemptRecord): void {
    for (const o of this.list) {
      try {
        o.attemptEnd?.(call, attempt);
      } catch (err) {
        this.onError(err);
      }
    }
  }

  firstToken(call: CallContext): void {
    for (const o of this.list) {
      try {
        o.firstToken?.(call);
      } catch (err) {
        this.onError(err);
      }
    }
  }

  requestEnd(call: CallContext): void {
    for (const o of this.list) {
      try {
        o.requestEnd?.(call);
      } catch (err) {
        this.onError(err);
      }
    }
  }
}

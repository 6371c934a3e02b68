import type { EventBatch } from './upstream';

/** What a BatchStream asks of whatever produces its batches (an upstream body, a translator). */
export interface BatchProducer {
  /** Start or go on producing: called on the consumer's first demand, and after each pause. */
  resume(): void;
  /** The consumer is behind: stop for now. A batch already under way may still arrive. */
  pause(): void;
  /** The consumer has gone: stop for good and let go of the upstream. */
  cancel(): void;
}

/** A consumer fed batch by batch as they arrive, then exactly one of `end` or `error`. */
export interface BatchSink {
  batch(batch: EventBatch): void;
  end(): void;
  error(err: unknown): void;
}

const OPEN = 0;
const ENDED = 1;
const FAILED = 2;
const DONE: IteratorResult<EventBatch> = Object.freeze({ value: undefined, done: true });

/**
 * A stream's event batches, handed over either way: pushed to a sink the moment they arrive
 * (`consume`, the relay's path), or pulled (`next`, `for await`, the priming and shadows' path).
 * Pushing is what thousands of live streams need: a batch costs a call, not the promise, the
 * iterator result and the generator resumption each layer of async iteration costs per event, and
 * a stream waiting for its next event holds no promise that lives until then (the GC copies and
 * promotes whatever lives that long). Batches the consumer is not ready for wait in a queue while
 * the producer is paused, so a slow client holds back the upstream instead of filling memory.
 */
export class BatchStream implements AsyncIterableIterator<EventBatch> {
  private queue: EventBatch[] | undefined;
  private state = OPEN;
  private failure: unknown;
  private settled = false;
  private cancelled = false;
  private producing = false;
  private paused = false;
  private delivering = false;
  private sink: BatchSink | undefined;
  private waiter: { resolve(r: IteratorResult<EventBatch>): void; reject(err: unknown): void } | undefined;

  constructor(private readonly producer: BatchProducer) {}

  /** A stream of batches known up front (an answer replayed as a stream). */
  static of(...batches: EventBatch[]): BatchStream {
    const s = new BatchStream({ resume() {}, pause() {}, cancel() {} });
    s.queue = batches;
    s.state = ENDED;
    return s;
  }

  // The producer's side.

  push(batch: EventBatch): void {
    if (this.cancelled || this.state !== OPEN) return;
    if (this.sink && !this.paused && !this.delivering && !this.queue?.length) return this.deliver(batch);
    const w = this.waiter;
    if (w) {
      this.waiter = undefined;
      return w.resolve({ value: batch, done: false });
    }
    (this.queue ??= []).push(batch);
    this.stopProducing();
  }

  end(): void {
    if (this.cancelled || this.state !== OPEN) return;
    this.state = ENDED;
    this.settle();
  }

  fail(err: unknown): void {
    if (this.cancelled || this.state !== OPEN) return;
    this.state = FAILED;
    this.failure = err;
    this.settle();
  }

  // The consumer's side: push.

  /** Feeds `sink` from now on: what is queued at once, then each batch as it arrives. */
  consume(sink: BatchSink): void {
    this.sink = sink;
    this.flush();
  }

  /** Holds batches back (queued) until `resume`: the client is not reading. */
  pause(): void {
    this.paused = true;
    this.stopProducing();
  }

  resume(): void {
    this.paused = false;
    this.flush();
  }

  /** The consumer is gone: nothing more is delivered, and the producer lets go of the upstream. */
  cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.queue = undefined;
    const w = this.waiter;
    this.waiter = undefined;
    w?.resolve(DONE);
    if (this.state === OPEN) this.producer.cancel();
  }

  // The consumer's side: pull.

  next(): Promise<IteratorResult<EventBatch>> {
    const q = this.queue;
    if (q?.length) {
      const value = q.shift()!;
      if (!q.length) this.startProducing();
      return Promise.resolve({ value, done: false });
    }
    if (this.cancelled || this.state === ENDED) return Promise.resolve(DONE);
    if (this.state === FAILED) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
      this.startProducing();
    });
  }

  /** Puts a batch taken with `next` back in front (a primed stream's first batch). */
  unshift(batch: EventBatch): void {
    if (this.cancelled) return;
    (this.queue ??= []).unshift(batch);
    this.stopProducing();
  }

  return(): Promise<IteratorResult<EventBatch>> {
    this.cancel();
    return Promise.resolve(DONE);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  private deliver(batch: EventBatch): void {
    try {
      this.sink!.batch(batch);
    } catch (err) {
      // A consumer that throws is finished with: it hears why, once, and the upstream is let go.
      this.sinkFailed(err);
    }
  }

  private sinkFailed(err: unknown): void {
    const sink = this.sink!;
    this.cancel();
    if (this.settled) return;
    this.settled = true;
    sink.error(err);
  }

  private flush(): void {
    if (this.delivering || !this.sink) return;
    this.delivering = true;
    try {
      while (this.queue?.length && !this.paused && !this.cancelled) this.deliver(this.queue.shift()!);
    } finally {
      this.delivering = false;
    }
    if (this.paused || this.cancelled) return;
    if (this.state === OPEN) this.startProducing();
    else this.settle();
  }

  private settle(): void {
    if (this.settled || this.queue?.length) return;
    if (this.sink) {
      if (this.paused || this.delivering) return;
      this.settled = true;
      if (this.state === ENDED) this.sink.end();
      else this.sink.error(this.failure);
      return;
    }
    const w = this.waiter;
    if (!w) return;
    this.waiter = undefined;
    this.settled = true;
    if (this.state === ENDED) w.resolve(DONE);
    else w.reject(this.failure);
  }

  private startProducing(): void {
    if (this.producing || this.state !== OPEN || this.cancelled) return;
    this.producing = true;
    this.producer.resume();
  }

  private stopProducing(): void {
    if (!this.producing) return;
    this.producing = false;
    this.producer.pause();
  }
}

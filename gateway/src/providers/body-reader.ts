import type { Readable } from 'node:stream';
import { BatchStream, type BatchProducer } from '../core/batch-stream';
import type { Target } from '../core/routes';
import { toFailure } from './http';

/**
 * An upstream stream body read in flowing mode ('data' events, the way `pipe` reads), feeding a
 * BatchStream: paused while the stream's consumer is behind, destroyed when it goes. Subclasses
 * turn each chunk into a batch (`chunk`) and finish the stream (`end`); a transport error, and a
 * body destroyed before its end, fail it with an UpstreamFailure naming the target.
 */
export abstract class BodyReader implements BatchProducer {
  readonly stream = new BatchStream(this);
  /** Ended, failed or cancelled: nothing more to deliver (and a late 'close' builds no Error and its stack). */
  protected done = false;
  private reading = false;

  constructor(
    protected readonly body: Readable,
    protected readonly target: Target,
  ) {}

  resume(): void {
    if (this.reading) {
      this.body.resume();
      return;
    }
    this.reading = true;
    const { body } = this;
    body.on('data', (chunk: Buffer) => this.chunk(chunk));
    body.on('end', () => this.end());
    body.on('error', (err) => this.fail(err));
    // Destroyed without an error (and without its end): cut short, as `for await` would report it.
    body.on('close', () => this.fail(Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' })));
  }

  pause(): void {
    this.body.pause();
  }

  cancel(): void {
    this.done = true;
    this.body.destroy();
  }

  protected abstract chunk(chunk: Buffer): void;

  protected abstract end(): void;

  protected fail(err: unknown): void {
    if (this.done) return;
    this.done = true;
    this.stream.fail(toFailure(err, this.target));
  }

  /** Fails the stream and drops the connection unread: the stream cannot go on. */
  protected failAndDrop(err: unknown): void {
    this.fail(err);
    this.body.destroy();
  }
}

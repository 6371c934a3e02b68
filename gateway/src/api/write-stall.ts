import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** The error type a client cut off for not reading gets in the access log and metrics (not an Anthropic type: the client never sees it). */
export const CLIENT_STALLED = 'client_stalled';

interface Guarded {
  res: ServerResponse;
  socket: Socket;
  onStall: () => void;
  /** What was queued at the last check; undefined until the first check, which only takes a snapshot. */
  last: string | undefined;
}

// bytesWritten counts bytes handed to the socket, not bytes the kernel took; what is still queued
// (in the stream, and in libuv's own queue for a write in flight) is what shrinks as the client reads.
const queued = (socket: Socket) => `${socket.writableLength}:${(socket as unknown as { _handle?: { writeQueueSize?: number } })._handle?.writeQueueSize ?? 0}`;

/**
 * One interval per stall limit for every reply in flight, rather than a timer per reply (a
 * setInterval, a clearInterval and two listeners per request were ~1% of a JSON request's CPU).
 */
class StallWatch {
  private readonly replies = new Set<Guarded>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly ms: number) {}

  add(g: Guarded): void {
    this.replies.add(g);
    this.timer ??= setInterval(() => this.check(), this.ms).unref();
    g.res.once('close', () => this.remove(g));
  }

  private remove(g: Guarded): void {
    this.replies.delete(g);
    if (this.replies.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private check(): void {
    for (const g of this.replies) {
      const { res, socket } = g;
      if (res.writableFinished || socket.destroyed) {
        this.remove(g);
        continue;
      }
      const now = queued(socket);
      // A reply added less than `ms` ago gets its snapshot at its first check and is judged at
      // the next, so a stall is always a whole `ms` (or more) without progress.
      if (now === g.last && socket.writableLength > 0) {
        this.remove(g);
        g.onStall();
        socket.destroy();
        continue;
      }
      g.last = now;
    }
  }
}

const watches = new Map<number, StallWatch>();

/**
 * Cuts off a client that stops reading a response already handed to its socket (a large JSON
 * body, which Koa writes in one `end`): without it the socket, and the whole body queued in it,
 * stay for as long as the client keeps the connection open. Stalled means bytes are waiting and
 * none went out for a whole `ms`; a slow client that keeps reading is left alone.
 */
export function guardWriteStall(res: ServerResponse, ms: number, onStall: () => void): void {
  if (ms <= 0) return;
  const socket = res.socket;
  if (!socket) return;
  let watch = watches.get(ms);
  if (!watch) watches.set(ms, (watch = new StallWatch(ms)));
  watch.add({ res, socket, onStall, last: undefined });
}

/**
 * Resolves when the socket can take more (`drained`), the client is gone (`closed`), or nothing
 * could be written for `ms` (`stalled`; 0: no limit).
 */
export function drained(res: ServerResponse, ms: number): Promise<'drained' | 'closed' | 'stalled'> {
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    const finish = (how: 'drained' | 'closed' | 'stalled') => {
      clearTimeout(timer);
      res.off('drain', onDrain);
      res.off('close', onClose);
      resolve(how);
    };
    const onDrain = () => finish('drained');
    const onClose = () => finish('closed');
    res.once('drain', onDrain);
    res.once('close', onClose);
    if (ms > 0) timer = setTimeout(() => finish('stalled'), ms).unref();
  });
}

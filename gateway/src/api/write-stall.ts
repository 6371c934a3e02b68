import type { ServerResponse } from 'node:http';

/** The error type a client cut off for not reading gets in the access log and metrics (not an Anthropic type: the client never sees it). */
export const CLIENT_STALLED = 'client_stalled';

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
  // bytesWritten counts bytes handed to the socket, not bytes the kernel took; what is still queued
  // (in the stream, and in libuv's own queue for a write in flight) is what shrinks as the client reads.
  const queued = () => `${socket.writableLength}:${(socket as unknown as { _handle?: { writeQueueSize?: number } })._handle?.writeQueueSize ?? 0}`;
  let last = queued();
  const timer = setInterval(() => {
    if (res.writableFinished || socket.destroyed) return stop();
    const now = queued();
    if (now === last && socket.writableLength > 0) {
      stop();
      onStall();
      socket.destroy();
      return;
    }
    last = now;
  }, ms).unref();
  const stop = () => {
    clearInterval(timer);
    res.off('finish', stop);
    res.off('close', stop);
  };
  res.once('finish', stop);
  res.once('close', stop);
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

import { buildConnector } from 'undici';
import type { Socket } from 'node:net';

/** How long a new upstream connection may sit without carrying a request before it is closed. */
export const UNUSED_CONNECTION_MS = 1000;

/**
 * undici's connector, plus: a connection that no request has written to shortly after it opened
 * is closed. undici (7.x, nodejs/undici#5845) opens such connections itself: when an in-flight
 * request is aborted (a client leaving a stream), the socket closes with an informational error,
 * the Client puts the aborted request back among its pending ones, connects anew for it, and only
 * then drops it. The fresh socket has no keep-alive timer and sits idle until the upstream closes
 * it (65 s on some servers): one per aborted stream. A real request is written in the same tick as
 * its connection completes, so "nothing written after a second" identifies exactly these.
 */
export function reapingConnector(connectTimeoutMs: number): buildConnector.connector {
  const connect = buildConnector({ timeout: connectTimeoutMs });
  return (options, callback) =>
    connect(options, (...args: buildConnector.CallbackArgs) => {
      if (args[0] === null) reapIfUnused(args[1]);
      callback(...args);
    });
}

function reapIfUnused(socket: Socket): void {
  const timer = setTimeout(() => {
    if (socket.bytesWritten === 0 && !socket.destroyed) socket.destroy();
  }, UNUSED_CONNECTION_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}

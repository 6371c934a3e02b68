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
    connect(options, (err: Error | null, socket: Socket | null) => {
      if (err === null) watch(socket!);
      (callback as (err: Error | null, socket: Socket | null) => void)(err, socket);
    });
}

/**
 * New connections by the time they opened, oldest first (a Map keeps insertion order), checked by
 * one shared sweep: a timer and a 'close' listener per connection cost more than the check, and
 * live-stream bursts open a thousand connections a second.
 */
const fresh = new Map<Socket, number>();
let sweeper: NodeJS.Timeout | undefined;

function watch(socket: Socket): void {
  fresh.set(socket, Date.now());
  sweeper ??= setInterval(sweep, UNUSED_CONNECTION_MS / 2).unref();
}

function sweep(): void {
  const due = Date.now() - UNUSED_CONNECTION_MS;
  for (const [socket, openedAt] of fresh) {
    if (openedAt > due) break;
    fresh.delete(socket);
    if (socket.bytesWritten === 0 && !socket.destroyed) socket.destroy();
  }
  if (fresh.size === 0) {
    clearInterval(sweeper);
    sweeper = undefined;
  }
}

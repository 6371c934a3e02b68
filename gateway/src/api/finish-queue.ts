import type { IncomingMessage, ServerResponse } from 'node:http';
import Koa from 'koa';

type FinishListener = (err: Error | null, res: ServerResponse) => void;

/** What on-finished keeps on a response: one listener per response, with a queue of callbacks. */
interface Attached {
  __onFinished?: { queue: FinishListener[] | null } | null;
}

/**
 * Koa hands every response to on-finished (`onFinished(res, ctx.onerror)`), which watches it with
 * ee-first: four listeners on the response and its socket, each a closure, plus their contexts,
 * cleanup lists and a shared listener, held for the response's whole life (~1.5 KiB of every open
 * stream). on-finished attaches them only when the response has no `__onFinished` listener yet,
 * and otherwise adds its callback to that listener's queue. Set here before Koa's call, that queue
 * is run by one shared `close` listener: each callback still runs once, when the response is done
 * (`close` follows `finish`, and comes too when the socket goes first), with no error. The error
 * on-finished would pass for a socket error only reaches Koa's ctx.onerror, which does nothing
 * once the socket is unwritable, and which reports to the app's `error` event, unused in a silent
 * app like the traffic app.
 */
export function queueFinishListeners(res: ServerResponse): void {
  (res as Attached).__onFinished = { queue: [] };
  res.on('close', runQueue);
}

function runQueue(this: ServerResponse): void {
  const attached = (this as Attached).__onFinished;
  (this as Attached).__onFinished = null;
  const queue = attached?.queue;
  if (!queue) return;
  attached!.queue = null;
  for (const listener of queue) listener(null, this);
}

/** Koa, with each response's on-finished callbacks run by one shared `close` listener (above). */
export class FinishQueueKoa extends Koa {
  override createContext<StateT = Koa.DefaultState>(req: IncomingMessage, res: ServerResponse): Koa.ParameterizedContext<StateT> {
    queueFinishListeners(res);
    return super.createContext<StateT>(req, res);
  }
}

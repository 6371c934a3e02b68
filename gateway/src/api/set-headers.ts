import type { ServerResponse } from 'node:http';

/**
 * Sets response headers straight on Node's response, as Koa's `ctx.set()` does once it has
 * unpacked its arguments: Koa 3 builds an entries array, a mapped array and a pair per header on
 * every call (even for one header), which was the largest single allocation of a JSON request's
 * own handling. Like `ctx.set()`, nothing happens once the headers are sent.
 */
export function setHeader(res: ServerResponse, name: string, value: string): void {
  if (!res.headersSent) res.setHeader(name, value);
}

export function setHeaders(res: ServerResponse, headers: Readonly<Record<string, string>>): void {
  if (res.headersSent) return;
  for (const name in headers) res.setHeader(name, headers[name]);
}

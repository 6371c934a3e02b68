import { STATUS_CODES, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { envelope, type ErrorType } from '../core/errors';

/** Records one refused connection (metrics, access log) and returns the request id to send. */
export type ReportClientError = (status: number, type: ErrorType, message: string) => string;

/**
 * Answers what Node's HTTP parser refuses (garbage, oversized headers, headers that never finish)
 * the way Node's own `clientError` default does, plus the Anthropic envelope and a request id:
 * 431 for headers over `maxHeaderSize`, 408 for `headersTimeout`, 413 for oversized chunk
 * extensions, 400 for the rest; transport errors (a reset) are no request and only close.
 *
 * Unlike Node's default, a response still owed on the connection is not cut: a pipelined client
 * first gets every response to the requests before the garbage, then the error, then the close
 * (writing the error at once would land in the middle of a chunked body in flight).
 * A connection is answered and reported once: Node raises the header timeout again for a socket
 * that has not closed yet, which used to log every slowloris connection twice. A client that
 * never closes its side is cut a few seconds after the answer.
 */
export function guardClientErrors(server: Server, report: ReportClientError): void {
  const owed = new WeakMap<Socket, number>();
  const whenSettled = new WeakMap<Socket, () => void>();
  const handled = new WeakSet<Socket>();

  server.on('request', (req, res) => {
    const socket = req.socket;
    owed.set(socket, (owed.get(socket) ?? 0) + 1);
    res.on('close', () => {
      const n = (owed.get(socket) ?? 1) - 1;
      owed.set(socket, n);
      if (n === 0) whenSettled.get(socket)?.();
    });
  });

  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    // Already answered or waiting to be (Node re-raises the header timeout at every check while
    // the socket is open, and a response still owed may take minutes).
    if (handled.has(socket)) return;
    handled.add(socket);
    const answer = classify(err);
    if (!answer) return void socket.destroy();
    const requestId = report(answer.status, answer.type, answer.message);
    const respond = () => {
      if (!socket.writable || socket.destroyed) return void socket.destroy();
      const body = JSON.stringify(envelope(answer.type, answer.message, requestId));
      socket.end(
        `HTTP/1.1 ${answer.status} ${STATUS_CODES[answer.status]}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
          `request-id: ${requestId}\r\nconnection: close\r\n\r\n${body}`,
      );
      // A client that never closes its side must not hold the socket.
      setTimeout(() => socket.destroy(), 5000).unref();
    };
    if ((owed.get(socket) ?? 0) > 0) {
      // Nothing more is read from this connection; the error follows the responses still owed.
      socket.pause();
      whenSettled.set(socket, respond);
    } else respond();
  });
}

function classify(err: NodeJS.ErrnoException): { status: number; type: ErrorType; message: string } | undefined {
  const code = err.code ?? '';
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return { status: 431, type: 'invalid_request_error', message: 'request headers are too large' };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { status: 408, type: 'invalid_request_error', message: 'request headers not received in time' };
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return { status: 413, type: 'request_too_large', message: 'chunk extensions are too large' };
  }
  // HPE_* are parse errors: malformed HTTP. Anything else (ECONNRESET, EPIPE…) is the transport
  // failing: there is no request to answer, and nobody to answer it to.
  if (code.startsWith('HPE_')) return { status: 400, type: 'invalid_request_error', message: `malformed HTTP request: ${code}` };
  return undefined;
}

/**
 * Answers for requests the agent refuses before a WebSocket opens, shared by
 * the echo endpoint and the proxy. rejectUpgrade leaves the counting to its
 * caller; onClientError counts what it answers.
 */
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { CloseRecorder } from '../recorder/recorder.js';

/** Answer on the raw socket of an upgrade request, then close it once the answer is flushed. */
export function rejectUpgrade(socket: Duplex, status: number, reason: string, message: string, extraHeaders = ''): void {
  socket.on('error', () => undefined);
  if (socket.writable) {
    socket.end(
      `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n${extraHeaders}Content-Length: ${Buffer.byteLength(message)}\r\n\r\n${message}`,
    );
  }
  (socket as Socket).destroySoon?.();
}

/** Errors of a client that went away in the middle of its request head: reset, or FIN (llhttp's EOF error). */
const CLIENT_GONE = new Set(['ECONNRESET', 'EPIPE', 'HPE_INVALID_EOF_STATE']);

/**
 * The http server's 'clientError' handler: a request head that did not
 * arrive within the handshake timeout gets 408, a malformed one 400 (431 when
 * its headers are too large), a client that left mid-head no answer; each is
 * counted as an upgrade failure.
 */
export function onClientError(recorder: CloseRecorder): (err: NodeJS.ErrnoException, socket: Duplex) => void {
  return (err, socket) => {
    if (err.code !== undefined && CLIENT_GONE.has(err.code)) {
      // Not a malformed request: the client left with its request head half sent.
      recorder.recordUpgradeFailure('client_aborted');
      socket.destroy();
      return;
    }
    const timeout = err.code === 'ERR_HTTP_REQUEST_TIMEOUT';
    recorder.recordUpgradeFailure(timeout ? 'handshake_timeout' : 'bad_request');
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    const status = timeout ? 408 : err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
    const text = timeout ? 'Request Timeout' : status === 431 ? 'Request Header Fields Too Large' : 'Bad Request';
    rejectUpgrade(socket, status, text, `${text.toLowerCase()}\n`);
  };
}

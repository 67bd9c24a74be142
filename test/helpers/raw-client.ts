/** A raw TCP WebSocket client for sending frames a real client library would refuse to send (frames: harness/frames.mjs). */
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';

export { closePayload, encodeFrame, firstCloseCode } from '../../harness/frames.mjs';

export interface RawConnection {
  socket: Socket;
  /** Bytes received after the handshake response. */
  received(): Buffer;
  /** The HTTP response head of the handshake. */
  response: string;
  /** Resolves when the TCP connection has closed. */
  closed: Promise<void>;
}

/** Perform the opening handshake over raw TCP; resolves once the 101 (or other) response head is read. */
export function rawConnect(port: number, path = '/', extraHeaders: string[] = [], host = '127.0.0.1'): Promise<RawConnection> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, host);
    let buffer = Buffer.alloc(0);
    let response: string | undefined;
    let after = Buffer.alloc(0);
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      if (response !== undefined) {
        after = Buffer.concat([after, chunk]);
        return;
      }
      buffer = Buffer.concat([buffer, chunk]);
      const end = buffer.indexOf('\r\n\r\n');
      if (end < 0) return;
      response = buffer.subarray(0, end).toString('latin1');
      after = buffer.subarray(end + 4);
      resolve({ socket, response, received: () => after, closed });
    });
    socket.once('close', () => {
      if (response === undefined) reject(new Error(`connection closed before a handshake response: ${buffer.toString('latin1')}`));
    });
    socket.write(
      [
        `GET ${path} HTTP/1.1`,
        `Host: ${host}:${port}`,
        'Upgrade: websocket',
        'Connection: Upgrade',
        `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`,
        'Sec-WebSocket-Version: 13',
        ...extraHeaders,
        '',
        '',
      ].join('\r\n'),
    );
  });
}

/**
 * Raw TCP peers for hostile cases the shared raw client does not cover: a
 * request written by hand (any method, headers, byte by byte), a client that
 * keeps its half of the connection open after a FIN, and a reader of every
 * frame the agent sent back.
 */
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { closePayload, encodeFrame, parseFrames } from '../../../harness/frames.mjs';

export { closeCodes, parseFrames } from '../../../harness/frames.mjs';

export interface HttpExchange {
  /** Everything the server sent. */
  data: Buffer;
  /** The status code of the first response line, or 0 when none arrived. */
  status: number;
  /** Milliseconds from the first write to the close. */
  elapsed: number;
}

/**
 * Write `request` (all at once, or in `pieces` with `gapMs` between them),
 * then read until the server closes (bounded by `timeoutMs`).
 */
export function exchange(port: number, request: string | Buffer, options: { gapMs?: number; pieces?: number; timeoutMs?: number } = {}): Promise<HttpExchange> {
  const { gapMs = 0, pieces = 1, timeoutMs = 5000 } = options;
  return new Promise((resolve, reject) => {
    const bytes = typeof request === 'string' ? Buffer.from(request, 'latin1') : request;
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const started = Date.now();
    // eslint-disable-next-line prefer-const -- writeNext() reads it before the interval is set
    let writer: NodeJS.Timeout | undefined;
    const deadline = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no close within ${timeoutMs} ms; got ${Buffer.concat(chunks).toString('latin1').slice(0, 200)}`));
    }, timeoutMs);
    socket.on('error', () => undefined);
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.once('close', () => {
      clearTimeout(deadline);
      clearInterval(writer);
      const data = Buffer.concat(chunks);
      const m = /^HTTP\/1\.1 (\d{3}) /.exec(data.toString('latin1', 0, 20));
      resolve({ data, status: m ? Number(m[1]) : 0, elapsed: Date.now() - started });
    });
    if (pieces <= 1) {
      socket.write(bytes);
      return;
    }
    const size = Math.ceil(bytes.length / pieces);
    let at = 0;
    const writeNext = (): void => {
      if (at >= bytes.length || !socket.writable) return clearInterval(writer);
      socket.write(bytes.subarray(at, at + size));
      at += size;
    };
    writeNext();
    writer = setInterval(writeNext, gapMs);
  });
}

/**
 * Connect, send the first 40 bytes of an upgrade request, and go away with
 * a FIN or a reset; resolves once the connection has closed. The pause lets
 * the agent read the partial head before the client leaves.
 */
export async function abortInRequestHead(port: number, how: 'FIN' | 'RST'): Promise<void> {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  await new Promise<void>((r) => socket.once('connect', () => r()));
  socket.write(upgradeRequest('/').slice(0, 40));
  await new Promise((r) => setTimeout(r, 50));
  if (how === 'FIN') socket.end();
  else socket.resetAndDestroy();
  await closed;
}

/** An upgrade request head, with `headers` replacing or adding to the defaults (null removes one). */
export function upgradeRequest(path = '/', headers: Record<string, string | null> = {}, method = 'GET', extraLines: string[] = []): string {
  const base: Record<string, string | null> = {
    Host: '127.0.0.1',
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
    'Sec-WebSocket-Version': '13',
    ...headers,
  };
  const lines = [`${method} ${path} HTTP/1.1`];
  for (const [k, v] of Object.entries(base)) if (v !== null) lines.push(`${k}: ${v}`);
  return [...lines, ...extraLines, '', ''].join('\r\n');
}

export interface RawPeer {
  readonly socket: Socket;
  readonly response: string;
  /** Bytes received after the response head (empty with `countOnly`). */
  received(): Buffer;
  /** How many bytes were received after the response head. */
  receivedBytes(): number;
  /** The peer saw the server's FIN. */
  readonly ended: Promise<void>;
  readonly closed: Promise<void>;
  /** Send one masked frame. */
  send(opcode: number, payload?: Buffer): void;
  sendClose(code: number, reason?: string): void;
}

export interface RawPeerOptions {
  path?: string;
  headers?: string[];
  /** Keep this side open after the server's FIN (a half-closed client). */
  allowHalfOpen?: boolean;
  /** Answer a close frame with the same code and end, as a well-behaved client does. */
  answerClose?: boolean;
  /** Count the bytes after the response head without keeping them (for floods). */
  countOnly?: boolean;
  timeoutMs?: number;
}

/** Open a WebSocket over raw TCP with the options above; resolves once the response head is read. */
export function rawPeer(port: number, options: RawPeerOptions = {}): Promise<RawPeer> {
  const { path = '/', headers = [], allowHalfOpen = false, answerClose = false, countOnly = false, timeoutMs = 5000 } = options;
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', allowHalfOpen });
    let head = Buffer.alloc(0);
    let response: string | undefined;
    let after = Buffer.alloc(0);
    let afterBytes = 0;
    let answered = false;
    const ended = new Promise<void>((r) => socket.once('end', () => r()));
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no handshake response within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('error', () => undefined);
    const peer = (): RawPeer => ({
      socket,
      response: response as string,
      received: () => after,
      receivedBytes: () => afterBytes,
      ended,
      closed,
      send: (opcode, payload = Buffer.alloc(0)) => {
        if (socket.writable) socket.write(encodeFrame(opcode, payload));
      },
      sendClose: (code, reason = '') => {
        if (socket.writable) socket.write(encodeFrame(0x8, closePayload(code, reason)));
      },
    });
    const onFrames = (): void => {
      if (!answerClose || answered) return;
      const close = parseFrames(after).find((f) => f.opcode === 0x8);
      if (!close) return;
      answered = true;
      if (socket.writable) socket.end(encodeFrame(0x8, close.payload.length >= 2 ? close.payload.subarray(0, 2) : Buffer.alloc(0)));
    };
    socket.on('data', (chunk: Buffer) => {
      if (response !== undefined) {
        afterBytes += chunk.length;
        if (countOnly) return;
        after = Buffer.concat([after, chunk]);
        onFrames();
        return;
      }
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      clearTimeout(timer);
      response = head.subarray(0, end).toString('latin1');
      after = head.subarray(end + 4);
      afterBytes = after.length;
      resolve(peer());
      onFrames();
    });
    socket.once('close', () => {
      clearTimeout(timer);
      if (response === undefined) reject(new Error(`closed before a handshake response: ${head.toString('latin1')}`));
    });
    socket.write(upgradeRequest(path, {}, 'GET', headers));
  });
}

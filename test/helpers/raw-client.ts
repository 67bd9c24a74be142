/** A raw TCP WebSocket client for sending frames a real client library would refuse to send. */
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';

export interface FrameOptions {
  fin?: boolean;
  rsv?: number; // 0-7, written to bits 4-6 of the first byte
  mask?: boolean;
  /** Declared payload length when it should differ from the payload (e.g. hostile 64-bit lengths). */
  declaredLength?: bigint;
}

/** Encode one frame by hand (RFC 6455 §5.2). Masked by default (client to server). */
export function encodeFrame(opcode: number, payload: Buffer = Buffer.alloc(0), options: FrameOptions = {}): Buffer {
  const { fin = true, rsv = 0, mask = true } = options;
  const length = options.declaredLength ?? BigInt(payload.length);
  const head: number[] = [(fin ? 0x80 : 0) | (rsv << 4) | opcode];
  const maskBit = mask ? 0x80 : 0;
  if (length < 126n) head.push(maskBit | Number(length));
  else if (length < 65536n) head.push(maskBit | 126, Number(length >> 8n), Number(length & 0xffn));
  else {
    head.push(maskBit | 127);
    for (let i = 7; i >= 0; i--) head.push(Number((length >> BigInt(i * 8)) & 0xffn));
  }
  const key = mask ? randomBytes(4) : Buffer.alloc(0);
  const body = Buffer.from(payload);
  if (mask) for (let i = 0; i < body.length; i++) body[i]! ^= key[i & 3]!;
  return Buffer.concat([Buffer.from(head), key, body]);
}

/** A close frame payload: 2-byte code + reason. */
export function closePayload(code: number, reason: string | Buffer = ''): Buffer {
  const r = typeof reason === 'string' ? Buffer.from(reason) : reason;
  const b = Buffer.alloc(2 + r.length);
  b.writeUInt16BE(code, 0);
  r.copy(b, 2);
  return b;
}

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

/** Decode the first server frame's close code from bytes received (unmasked server frames). */
export function firstCloseCode(bytes: Buffer): number | undefined {
  let offset = 0;
  while (offset + 2 <= bytes.length) {
    const opcode = bytes[offset]! & 0x0f;
    let len = bytes[offset + 1]! & 0x7f;
    let p = offset + 2;
    if (len === 126) {
      len = bytes.readUInt16BE(p);
      p += 2;
    } else if (len === 127) {
      len = Number(bytes.readBigUInt64BE(p));
      p += 8;
    }
    if (opcode === 0x8) return len >= 2 ? bytes.readUInt16BE(p) : 1005;
    offset = p + len;
  }
  return undefined;
}

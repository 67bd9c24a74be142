/**
 * RFC 6455 frames written and read by hand (§5.2), for peers that send what
 * a WebSocket library would refuse to and read back every frame as sent:
 * the hostile tests, the scanner's tests and the in-memory bench.
 */
import { randomBytes } from 'node:crypto';

/**
 * One frame. Options: `fin` (true), `rsv` (0-7, bits 4-6 of the first byte),
 * `mask` (true: a random key; a 4-byte Buffer: that key; false: unmasked),
 * `lengthBytes` (force the 7-bit, 16-bit or 64-bit length encoding: 0, 2, 8)
 * and `declaredLength` (a BigInt length to write instead of the payload's).
 */
export function encodeFrame(opcode, payload = Buffer.alloc(0), options = {}) {
  const { fin = true, rsv = 0, mask = true } = options;
  const length = options.declaredLength ?? BigInt(payload.length);
  const lengthBytes = options.lengthBytes ?? (length > 65535n ? 8 : length > 125n ? 2 : 0);
  const key = mask === true ? randomBytes(4) : mask === false ? undefined : mask;
  const head = Buffer.alloc(2 + lengthBytes);
  head[0] = (fin ? 0x80 : 0) | (rsv << 4) | opcode;
  head[1] = (key ? 0x80 : 0) | (lengthBytes === 0 ? Number(length) : lengthBytes === 2 ? 126 : 127);
  if (lengthBytes === 2) head.writeUInt16BE(Number(length), 2);
  if (lengthBytes === 8) head.writeBigUInt64BE(length, 2);
  if (!key) return Buffer.concat([head, payload]);
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i] ^= key[i & 3];
  return Buffer.concat([head, key, body]);
}

/** A close frame payload: 2-byte code + reason. */
export function closePayload(code, reason = '') {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(code, 0);
  return Buffer.concat([b, typeof reason === 'string' ? Buffer.from(reason) : reason]);
}

/** Every complete frame in `bytes` (masked payloads unmasked): { fin, rsv, opcode, masked, payload }. */
export function parseFrames(bytes) {
  const frames = [];
  let at = 0;
  while (at + 2 <= bytes.length) {
    const b0 = bytes[at];
    const b1 = bytes[at + 1];
    let len = b1 & 0x7f;
    let p = at + 2;
    if (len === 126) {
      if (p + 2 > bytes.length) break;
      len = bytes.readUInt16BE(p);
      p += 2;
    } else if (len === 127) {
      if (p + 8 > bytes.length) break;
      const long = bytes.readBigUInt64BE(p);
      if (long > BigInt(bytes.length)) break; // cannot be complete
      len = Number(long);
      p += 8;
    }
    const masked = (b1 & 0x80) !== 0;
    const key = masked ? bytes.subarray(p, p + 4) : undefined;
    if (masked) p += 4;
    if (p + len > bytes.length) break;
    const payload = Buffer.from(bytes.subarray(p, p + len));
    if (key) for (let i = 0; i < payload.length; i++) payload[i] ^= key[i & 3];
    frames.push({ fin: (b0 & 0x80) !== 0, rsv: (b0 >> 4) & 7, opcode: b0 & 0x0f, masked, payload });
    at = p + len;
  }
  return frames;
}

/** The close frames in `bytes` as codes (1005 for an empty payload). */
export function closeCodes(bytes) {
  return parseFrames(bytes)
    .filter((f) => f.opcode === 0x8)
    .map((f) => (f.payload.length >= 2 ? f.payload.readUInt16BE(0) : 1005));
}

/** The code of the first close frame in `bytes`, or undefined. */
export function firstCloseCode(bytes) {
  return closeCodes(bytes)[0];
}

/** A masking key generator for `ws` that writes zeros: legal, and ws then skips the XOR on both ends (load clients). */
export function zeroMask(mask) {
  mask.fill(0, 0, 4);
}

export interface FrameOptions {
  fin?: boolean;
  /** 0-7, written to bits 4-6 of the first byte. */
  rsv?: number;
  /** true: a random key; a 4-byte Buffer: that key; false: unmasked (default true). */
  mask?: boolean | Buffer;
  /** Force the 7-bit, 16-bit or 64-bit length encoding. */
  lengthBytes?: 0 | 2 | 8;
  /** Declared payload length when it should differ from the payload (e.g. hostile 64-bit lengths). */
  declaredLength?: bigint;
}
export interface Frame {
  fin: boolean;
  rsv: number;
  opcode: number;
  masked: boolean;
  payload: Buffer;
}
/** One frame, by hand. Masked with a random key by default (client to server). */
export function encodeFrame(opcode: number, payload?: Buffer, options?: FrameOptions): Buffer;
/** A close frame payload: 2-byte code + reason. */
export function closePayload(code: number, reason?: string | Buffer): Buffer;
/** Every complete frame in `bytes` (masked payloads unmasked). */
export function parseFrames(bytes: Buffer): Frame[];
/** The close frames in `bytes` as codes (1005 for an empty payload). */
export function closeCodes(bytes: Buffer): number[];
/** The code of the first close frame in `bytes`, or undefined. */
export function firstCloseCode(bytes: Buffer): number | undefined;
/** A masking key generator for `ws` that writes zeros. */
export function zeroMask(mask: Buffer): void;

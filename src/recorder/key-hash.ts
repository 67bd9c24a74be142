/**
 * Client keys are kept only as keyed hashes: BLAKE2s (RFC 7693) in its keyed
 * mode, with a random 32-byte key drawn once per process, truncated to 52
 * bits (a JS number, exact). Without the key, a hash in memory (or in an IPC
 * message) says nothing about the client key it came from, and an attacker
 * cannot pick keys that collide in the reconnect table.
 *
 * Why BLAKE2s in JS rather than node:crypto's HMAC-SHA256: for a key of a few
 * dozen bytes the cost is the call into OpenSSL (a Hmac object, update,
 * digest, a Buffer) rather than the hashing. The keyed BLAKE2 state after the
 * key block is the same for every message, so it is computed once and each
 * key costs one compression per 64 bytes with no allocation (bench case
 * "reconnect tracking" measures both).
 */
import { randomBytes } from 'node:crypto';

const IV = new Int32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
// prettier-ignore
const SIGMA = new Uint8Array([
  0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
  14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3,
  11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4,
  7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8,
  9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13,
  2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9,
  12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11,
  13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10,
  6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5,
  10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0,
]);
/** Output length in bytes (BLAKE2s parameter block): 8, of which 52 bits are kept. */
const OUT_BYTES = 8;
/** Keys whose UTF-8 form fits here are hashed without allocating. */
const SCRATCH_BYTES = 1024;

const m = new Int32Array(16);

// The state lives in 16 locals (typed-array slots and a helper per mix were 3x slower).
function compress(h: Int32Array, block: Uint8Array, offset: number, counter: number, last: boolean): void {
  for (let i = 0; i < 16; i++) {
    const o = offset + i * 4;
    m[i] = (block[o] as number) | ((block[o + 1] as number) << 8) | ((block[o + 2] as number) << 16) | ((block[o + 3] as number) << 24);
  }
  let v0 = h[0] as number,
    v1 = h[1] as number,
    v2 = h[2] as number,
    v3 = h[3] as number;
  let v4 = h[4] as number,
    v5 = h[5] as number,
    v6 = h[6] as number,
    v7 = h[7] as number;
  let v8 = IV[0] as number,
    v9 = IV[1] as number,
    v10 = IV[2] as number,
    v11 = IV[3] as number;
  let v12 = (IV[4] as number) ^ counter; // counters stay below 2^32 bytes here (the high word is 0)
  let v13 = IV[5] as number;
  let v14 = last ? ~(IV[6] as number) : (IV[6] as number);
  let v15 = IV[7] as number;
  for (let s = 0; s < 160; s += 16) {
    v0 = (v0 + v4 + (m[SIGMA[s] as number] as number)) | 0;
    v12 ^= v0;
    v12 = (v12 >>> 16) | (v12 << 16);
    v8 = (v8 + v12) | 0;
    v4 ^= v8;
    v4 = (v4 >>> 12) | (v4 << 20);
    v0 = (v0 + v4 + (m[SIGMA[s + 1] as number] as number)) | 0;
    v12 ^= v0;
    v12 = (v12 >>> 8) | (v12 << 24);
    v8 = (v8 + v12) | 0;
    v4 ^= v8;
    v4 = (v4 >>> 7) | (v4 << 25);
    v1 = (v1 + v5 + (m[SIGMA[s + 2] as number] as number)) | 0;
    v13 ^= v1;
    v13 = (v13 >>> 16) | (v13 << 16);
    v9 = (v9 + v13) | 0;
    v5 ^= v9;
    v5 = (v5 >>> 12) | (v5 << 20);
    v1 = (v1 + v5 + (m[SIGMA[s + 3] as number] as number)) | 0;
    v13 ^= v1;
    v13 = (v13 >>> 8) | (v13 << 24);
    v9 = (v9 + v13) | 0;
    v5 ^= v9;
    v5 = (v5 >>> 7) | (v5 << 25);
    v2 = (v2 + v6 + (m[SIGMA[s + 4] as number] as number)) | 0;
    v14 ^= v2;
    v14 = (v14 >>> 16) | (v14 << 16);
    v10 = (v10 + v14) | 0;
    v6 ^= v10;
    v6 = (v6 >>> 12) | (v6 << 20);
    v2 = (v2 + v6 + (m[SIGMA[s + 5] as number] as number)) | 0;
    v14 ^= v2;
    v14 = (v14 >>> 8) | (v14 << 24);
    v10 = (v10 + v14) | 0;
    v6 ^= v10;
    v6 = (v6 >>> 7) | (v6 << 25);
    v3 = (v3 + v7 + (m[SIGMA[s + 6] as number] as number)) | 0;
    v15 ^= v3;
    v15 = (v15 >>> 16) | (v15 << 16);
    v11 = (v11 + v15) | 0;
    v7 ^= v11;
    v7 = (v7 >>> 12) | (v7 << 20);
    v3 = (v3 + v7 + (m[SIGMA[s + 7] as number] as number)) | 0;
    v15 ^= v3;
    v15 = (v15 >>> 8) | (v15 << 24);
    v11 = (v11 + v15) | 0;
    v7 ^= v11;
    v7 = (v7 >>> 7) | (v7 << 25);
    v0 = (v0 + v5 + (m[SIGMA[s + 8] as number] as number)) | 0;
    v15 ^= v0;
    v15 = (v15 >>> 16) | (v15 << 16);
    v10 = (v10 + v15) | 0;
    v5 ^= v10;
    v5 = (v5 >>> 12) | (v5 << 20);
    v0 = (v0 + v5 + (m[SIGMA[s + 9] as number] as number)) | 0;
    v15 ^= v0;
    v15 = (v15 >>> 8) | (v15 << 24);
    v10 = (v10 + v15) | 0;
    v5 ^= v10;
    v5 = (v5 >>> 7) | (v5 << 25);
    v1 = (v1 + v6 + (m[SIGMA[s + 10] as number] as number)) | 0;
    v12 ^= v1;
    v12 = (v12 >>> 16) | (v12 << 16);
    v11 = (v11 + v12) | 0;
    v6 ^= v11;
    v6 = (v6 >>> 12) | (v6 << 20);
    v1 = (v1 + v6 + (m[SIGMA[s + 11] as number] as number)) | 0;
    v12 ^= v1;
    v12 = (v12 >>> 8) | (v12 << 24);
    v11 = (v11 + v12) | 0;
    v6 ^= v11;
    v6 = (v6 >>> 7) | (v6 << 25);
    v2 = (v2 + v7 + (m[SIGMA[s + 12] as number] as number)) | 0;
    v13 ^= v2;
    v13 = (v13 >>> 16) | (v13 << 16);
    v8 = (v8 + v13) | 0;
    v7 ^= v8;
    v7 = (v7 >>> 12) | (v7 << 20);
    v2 = (v2 + v7 + (m[SIGMA[s + 13] as number] as number)) | 0;
    v13 ^= v2;
    v13 = (v13 >>> 8) | (v13 << 24);
    v8 = (v8 + v13) | 0;
    v7 ^= v8;
    v7 = (v7 >>> 7) | (v7 << 25);
    v3 = (v3 + v4 + (m[SIGMA[s + 14] as number] as number)) | 0;
    v14 ^= v3;
    v14 = (v14 >>> 16) | (v14 << 16);
    v9 = (v9 + v14) | 0;
    v4 ^= v9;
    v4 = (v4 >>> 12) | (v4 << 20);
    v3 = (v3 + v4 + (m[SIGMA[s + 15] as number] as number)) | 0;
    v14 ^= v3;
    v14 = (v14 >>> 8) | (v14 << 24);
    v9 = (v9 + v14) | 0;
    v4 ^= v9;
    v4 = (v4 >>> 7) | (v4 << 25);
  }
  h[0] = (h[0] as number) ^ v0 ^ v8;
  h[1] = (h[1] as number) ^ v1 ^ v9;
  h[2] = (h[2] as number) ^ v2 ^ v10;
  h[3] = (h[3] as number) ^ v3 ^ v11;
  h[4] = (h[4] as number) ^ v4 ^ v12;
  h[5] = (h[5] as number) ^ v5 ^ v13;
  h[6] = (h[6] as number) ^ v6 ^ v14;
  h[7] = (h[7] as number) ^ v7 ^ v15;
}

/** The length of `text` after copying it into `out`, or -1 (out partly written) when a character is not ASCII. */
function asciiInto(out: Uint8Array, text: string): number {
  const len = text.length;
  for (let i = 0; i < len; i++) {
    const c = text.charCodeAt(i);
    if (c > 0x7f) return -1;
    out[i] = c;
  }
  return len;
}

/** Keyed BLAKE2s with one key; hashes strings to 52-bit numbers. */
export class KeyHasher {
  /** The state after the key block (never the last block: keys hashed here are never empty). */
  private readonly keyed = new Int32Array(8);
  private readonly h = new Int32Array(8);
  private readonly scratch = Buffer.alloc(SCRATCH_BYTES + 64);

  /** `key`: 1 to 32 bytes (default: 32 random bytes for this process). */
  constructor(key: Uint8Array = randomBytes(32)) {
    if (key.length < 1 || key.length > 32) throw new RangeError('the BLAKE2s key must be 1 to 32 bytes');
    this.keyed.set(IV);
    this.keyed[0] = (this.keyed[0] as number) ^ (0x01010000 | (key.length << 8) | OUT_BYTES);
    const block = new Uint8Array(64);
    block.set(key);
    compress(this.keyed, block, 0, 64, false);
  }

  /** The 52-bit keyed hash of a non-empty string's UTF-8 bytes. */
  hash(text: string): number {
    let bytes: Uint8Array = this.scratch;
    // ASCII (addresses, most header values) is its own UTF-8: copied by hand, without a call into Buffer.write.
    let n = text.length <= SCRATCH_BYTES ? asciiInto(this.scratch, text) : -1;
    if (n >= 0) {
      // copied
    } else if (text.length * 3 <= SCRATCH_BYTES) {
      n = this.scratch.write(text, 0, 'utf8');
    } else {
      bytes = Buffer.from(text, 'utf8');
      n = bytes.length;
      if (n % 64 !== 0) {
        const padded = Buffer.alloc(n + 64 - (n % 64));
        padded.set(bytes);
        bytes = padded;
      }
    }
    if (n === 0) return 0;
    const h = this.h;
    h.set(this.keyed);
    const blocks = Math.ceil(n / 64);
    if (bytes === this.scratch) for (let i = n; i < blocks * 64; i++) bytes[i] = 0; // under 64 bytes: cheaper than fill()
    for (let b = 0; b < blocks; b++) compress(h, bytes, b * 64, 64 + Math.min((b + 1) * 64, n), b === blocks - 1);
    return ((h[0] as number) >>> 0) + ((h[1] as number) & 0xfffff) * 0x100000000;
  }

  /** The whole 8-byte digest (little-endian words), for checking against other implementations. */
  digest(text: string): Buffer {
    this.hash(text);
    const out = Buffer.alloc(OUT_BYTES);
    out.writeInt32LE(this.h[0] as number, 0);
    out.writeInt32LE(this.h[1] as number, 4);
    return out;
  }
}

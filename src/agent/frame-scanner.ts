/**
 * Streaming RFC 6455 frame-header reader for one direction of a proxied
 * WebSocket connection. It reads headers as bytes pass (split after any
 * byte), skips payloads without copying, unmasks only close-frame payloads
 * (into a preallocated 125-byte buffer) and reports close frames and
 * protocol violations. It never alters, retains or reorders the chunks.
 *
 * At a frame boundary, headers that lie whole inside the chunk are read with
 * index arithmetic and the payloads of frames that need no report are jumped
 * over (readHeaders); only a header split across chunks goes through the
 * byte-at-a-time states of scan(), an integer switch. A chunk that falls
 * inside a payload costs one comparison in push(). Nothing is allocated per
 * frame or per chunk (only a non-ASCII close reason is checked through a
 * subarray view, once per close frame).
 */
import { isUtf8 } from 'node:buffer';
import { wireViolation } from '../codes/close-codes.js';
import type { ViolationKind } from '../codes/vocabulary.js';

export interface FrameScanHandler {
  /**
   * A complete close frame was seen. `code` is the status code read from the
   * payload, or -1 when the payload was empty (the peer sent no code: record
   * 1005), or -2 when the payload was 1 byte long and no code can be read
   * (after onViolation('short_close_payload')). `reasonLength` is the reason's
   * length in bytes (0 for -1/-2). `reasonUtf8` is false when the reason is
   * not valid UTF-8. Called also for close frames with violations (after
   * their onViolation calls). The handler must not throw.
   */
  onCloseFrame(code: number, reasonLength: number, reasonUtf8: boolean): void;
  /** A protocol violation was seen in this direction. The handler must not throw. */
  onViolation(kind: ViolationKind): void;
}

export interface FrameScannerOptions {
  /** true for the client->server direction: frames must be masked. false: frames must not be masked. A mismatch is 'bad_masking'. */
  masked: boolean;
}

/** Close code value: the close frame had an empty payload. */
export const CLOSE_CODE_NONE = -1;
/** Close code value: the close frame had a 1-byte payload, so no code could be read. */
const CLOSE_CODE_UNREADABLE = -2;

// Scanner states. Header states read one byte per step; payload states skip
// or copy as many bytes as the chunk holds.
const S_FIRST_BYTE = 0; // at a frame boundary: FIN, RSV, opcode
const S_SECOND_BYTE = 1; // MASK bit, 7-bit length
const S_EXT_LENGTH = 2; // 16- or 64-bit extended length
const S_MASK_KEY = 3; // 4-byte masking key
const S_SKIP_PAYLOAD = 4; // non-close payload: skipped unread
const S_CLOSE_PAYLOAD = 5; // close payload: first 125 bytes unmasked into closePayload
const S_STOPPED = 6; // unparseable length: the rest of this direction is not read

const OPCODE_CLOSE = 0x8;
/** RFC 6455 §5.5: control frames carry at most 125 payload bytes. */
const MAX_CONTROL_PAYLOAD = 125;

export class FrameScanner {
  private readonly handler: FrameScanHandler;
  private readonly expectMask: boolean;
  /** expectMask as the MASK bit of a header's second byte (0x80 or 0). */
  private readonly expectMaskBit: number;
  private state = S_FIRST_BYTE;
  // Current frame header.
  private fin = false;
  private rsv = 0;
  private opcode = 0;
  private hasMask = false;
  private extLengthBytesLeft = 0;
  private payloadLength = 0;
  private maskKeyBytes = 0;
  /** The 4-byte masking key, big-endian in one integer (no buffer per scanner). */
  private maskKey = 0;
  // Payload progress.
  private payloadRead = 0;
  /** Allocated at the first close frame: an idle connection's scanners hold no buffer. */
  private closePayload: Buffer | undefined;
  // Direction totals.
  private closeFrameCount = 0;
  private frameCount = 0;
  private reportedDataAfterClose = false;

  constructor(handler: FrameScanHandler, options: FrameScannerOptions) {
    this.handler = handler;
    this.expectMask = options.masked;
    this.expectMaskBit = options.masked ? 0x80 : 0;
  }

  /** During onCloseFrame only: a copy of the close frame's reason (at most 123 bytes), for the live page's recent closes. */
  copyCloseReason(reasonLength: number): Buffer | undefined {
    if (reasonLength <= 0 || this.closePayload === undefined) return undefined;
    return Buffer.from(this.closePayload.subarray(2, 2 + Math.min(reasonLength, MAX_CONTROL_PAYLOAD - 2)));
  }

  /** Number of close frames seen so far in this direction. */
  get closeFrames(): number {
    return this.closeFrameCount;
  }

  /** Frames seen so far (headers read completely). */
  get frames(): number {
    return this.frameCount;
  }

  /**
   * Bytes still needed to reach the next frame boundary: 0 at a boundary, the
   * remaining payload bytes when a header is complete, -1 while in the middle
   * of a header (unknown yet) and for ever after an 'invalid_frame_length'.
   * Exact for every length the scanner accepts (up to 2^53 - 1, as ws): it
   * counts what is left of the current frame, never offsets in the stream,
   * so a frame that ends past byte 2^53 of the direction counts down exactly.
   */
  bytesToBoundary(): number {
    switch (this.state) {
      case S_FIRST_BYTE:
        return 0;
      case S_SKIP_PAYLOAD:
      case S_CLOSE_PAYLOAD:
        return this.payloadLength - this.payloadRead;
      default:
        return -1;
    }
  }

  /** Scan bytes [start, end) of chunk (defaults: whole chunk). Never modifies or retains chunk. */
  push(chunk: Buffer, start = 0, end: number = chunk.length): void {
    // Most chunks of a large message fall inside its payload. This check is
    // kept small enough for V8 to inline push() into its caller; the rest
    // is in scan().
    if (this.state === S_SKIP_PAYLOAD) {
      const avail = end - start;
      if (this.payloadLength - this.payloadRead > avail) {
        if (avail > 0) this.payloadRead += avail; // (an empty or reversed range reads nothing)
        return;
      }
    }
    this.scan(chunk, start, end);
  }

  private scan(chunk: Buffer, start: number, end: number): void {
    let i = start;
    if (this.state === S_SKIP_PAYLOAD) {
      // The payload ends inside chunk (see push()). Lengths past 2^31 make
      // payloadLength a double; `| 0` (exact: the rest fits in the chunk)
      // keeps `i` a small integer, which every index below needs.
      i += (this.payloadLength - this.payloadRead) | 0;
      this.state = S_FIRST_BYTE;
    }
    while (i < end) {
      let state = this.state;
      if (state === S_FIRST_BYTE) {
        // Whole headers inside the chunk are read at once; only a header
        // that straddles the chunk's end goes through the byte states below.
        const next = this.readHeaders(chunk, i, end);
        if (next !== i) {
          i = next;
          continue;
        }
        state = this.state;
      }
      switch (state) {
        case S_FIRST_BYTE: {
          const b = chunk[i++] as number;
          this.fin = (b & 0x80) !== 0;
          this.rsv = b & 0x70;
          this.opcode = b & 0x0f;
          this.state = S_SECOND_BYTE;
          break;
        }
        case S_SECOND_BYTE: {
          const b = chunk[i++] as number;
          this.hasMask = (b & 0x80) !== 0;
          const length = b & 0x7f;
          if (length === 126 || length === 127) {
            this.payloadLength = 0;
            this.extLengthBytesLeft = length === 126 ? 2 : 8;
            this.state = S_EXT_LENGTH;
          } else {
            this.payloadLength = length;
            this.endLength();
          }
          break;
        }
        case S_EXT_LENGTH: {
          // Doubles hold every length up to 2^53 - 1 exactly, and anything
          // larger (including the top bit set) rounds to at least 2^53.
          this.payloadLength = this.payloadLength * 256 + (chunk[i++] as number);
          if (--this.extLengthBytesLeft === 0) {
            if (this.payloadLength > Number.MAX_SAFE_INTEGER) {
              this.stop();
              return;
            }
            this.endLength();
          }
          break;
        }
        case S_MASK_KEY: {
          this.maskKey = ((this.maskKey << 8) | (chunk[i++] as number)) >>> 0;
          this.maskKeyBytes++;
          if (this.maskKeyBytes === 4) this.endHeader();
          break;
        }
        case S_SKIP_PAYLOAD: {
          // Lengths past 2^31 make payloadLength a double; `| 0` (exact: left
          // <= avail here) keeps `i` a small integer, which every index needs.
          const left = this.payloadLength - this.payloadRead;
          const avail = end - i;
          if (left > avail) {
            this.payloadRead += avail;
            return;
          }
          i += left | 0;
          this.state = S_FIRST_BYTE;
          break;
        }
        case S_CLOSE_PAYLOAD: {
          const left = this.payloadLength - this.payloadRead;
          const avail = end - i;
          const n = left < avail ? left | 0 : avail;
          // Keep only the first 125 bytes (code + reason of a legal frame).
          const keep = Math.min(n, MAX_CONTROL_PAYLOAD - this.payloadRead);
          const buf = (this.closePayload ??= Buffer.allocUnsafe(MAX_CONTROL_PAYLOAD));
          let at = this.payloadRead;
          if (this.hasMask) {
            const key = this.maskKey;
            for (let k = 0; k < keep; k++, at++) buf[at] = (chunk[i + k] as number) ^ ((key >>> ((3 - (at & 3)) << 3)) & 0xff);
          } else {
            for (let k = 0; k < keep; k++, at++) buf[at] = chunk[i + k] as number;
          }
          i += n;
          this.payloadRead += n;
          if (this.payloadRead === this.payloadLength) this.endClose();
          break;
        }
        default: // S_STOPPED
          return;
      }
    }
  }

  /**
   * At a frame boundary: read every header that lies whole inside
   * chunk[i, end) with index arithmetic, jumping over the payloads of frames
   * that need no report. Returns the index reached, which is `i` itself
   * when the header at `i` is not whole (the byte states read it). Returns
   * after the first header that needs a report or a close payload read (see
   * beginFrame), and at a payload that runs past `end` (then in
   * S_SKIP_PAYLOAD, returning end).
   */
  private readHeaders(chunk: Buffer, i: number, end: number): number {
    const expectMaskBit = this.expectMaskBit;
    // false while the next frame must report 'data_after_close' (see endHeader).
    const afterCloseQuiet = this.closeFrameCount === 0 || this.reportedDataAfterClose;
    let frames = 0;
    while (end - i >= 2) {
      const b0 = chunk[i] as number;
      const b1 = chunk[i + 1] as number;
      let length = b1 & 0x7f;
      let at = i + 2;
      if (length >= 126) {
        // 64-bit lengths are read apart, so that `length` stays a small
        // integer here (a double would slow every index below).
        if (length === 127) {
          this.frameCount += frames;
          return this.readLongHeader(chunk, i, end);
        }
        if (end - at < 2) break;
        length = ((chunk[at] as number) << 8) | (chunk[at + 1] as number);
        at += 2;
      }
      const masked = (b1 & 0x80) !== 0;
      if (masked) {
        if (end - at < 4) break;
        at += 4;
      }
      const opcode = b0 & 0x0f;
      if (
        (b1 & 0x80) === expectMaskBit &&
        afterCloseQuiet &&
        (opcode <= 0x2 || ((opcode === 0x9 || opcode === 0xa) && (b0 & 0xf0) === 0x80 && length <= MAX_CONTROL_PAYLOAD))
      ) {
        // A legal data, ping or pong frame: nothing to report or read.
        frames++;
        const left = end - at;
        if (length <= left) {
          i = at + length;
          continue;
        }
        this.frameCount += frames;
        this.payloadLength = length;
        this.payloadRead = left;
        this.state = S_SKIP_PAYLOAD;
        return end;
      }
      this.frameCount += frames;
      this.beginFrame(chunk, b0, masked, length, at);
      return at;
    }
    this.frameCount += frames;
    return i;
  }

  /** readHeaders for a header with a 64-bit length at chunk[i]: the index after it, or `i` when it is not whole. */
  private readLongHeader(chunk: Buffer, i: number, end: number): number {
    if (end - i < 10) return i;
    const high = (chunk[i + 2] as number) * 0x1000000 + (((chunk[i + 3] as number) << 16) | ((chunk[i + 4] as number) << 8) | (chunk[i + 5] as number));
    if (high > 0x1fffff) {
      // At least 2^53, as in S_EXT_LENGTH: reported before the masking key.
      this.stop();
      return end;
    }
    const masked = ((chunk[i + 1] as number) & 0x80) !== 0;
    const at = i + (masked ? 14 : 10);
    if (at > end) return i;
    const length =
      high * 0x100000000 +
      (chunk[i + 6] as number) * 0x1000000 +
      (((chunk[i + 7] as number) << 16) | ((chunk[i + 8] as number) << 8) | (chunk[i + 9] as number));
    this.beginFrame(chunk, chunk[i] as number, masked, length, at);
    return at;
  }

  /**
   * A whole header ending at chunk[at] (first byte b0, masking key, if any,
   * in the 4 bytes before `at`): the same fields and endHeader() as the byte
   * states, so every report and state change is theirs.
   */
  private beginFrame(chunk: Buffer, b0: number, masked: boolean, length: number, at: number): void {
    this.fin = (b0 & 0x80) !== 0;
    this.rsv = b0 & 0x70;
    this.opcode = b0 & 0x0f;
    this.hasMask = masked;
    this.payloadLength = length;
    if (masked) {
      this.maskKey =
        (((chunk[at - 4] as number) << 24) | ((chunk[at - 3] as number) << 16) | ((chunk[at - 2] as number) << 8) | (chunk[at - 1] as number)) >>> 0;
    }
    this.endHeader();
  }

  /**
   * A 64-bit length of 2^53 or more (RFC 6455 §5.2: the most significant bit
   * MUST be 0; ws closes with 1009 above 2^53 - 1). Past this frame the
   * boundaries are unknown, so stop reading.
   */
  private stop(): void {
    this.state = S_STOPPED;
    this.handler.onViolation('invalid_frame_length');
  }

  /** The length is known: read the masking key, or the header is complete. */
  private endLength(): void {
    if (this.hasMask) {
      this.maskKeyBytes = 0;
      this.state = S_MASK_KEY;
    } else {
      this.endHeader();
    }
  }

  /** A header is complete: report its violations and move to its payload. */
  private endHeader(): void {
    this.frameCount++;
    this.payloadRead = 0;
    const opcode = this.opcode;
    const handler = this.handler;
    const isClose = opcode === OPCODE_CLOSE;
    // State first, so that the boundary is right even while handlers run.
    if (isClose) this.state = S_CLOSE_PAYLOAD;
    else this.state = this.payloadLength === 0 ? S_FIRST_BYTE : S_SKIP_PAYLOAD;

    if (this.closeFrameCount > 0 && !this.reportedDataAfterClose) {
      this.reportedDataAfterClose = true;
      handler.onViolation('data_after_close');
    }
    if (opcode >= 0x8 && opcode <= 0xa) {
      // Control frames (§5.5). RSV bits are legal only on data frames, where
      // extensions such as permessage-deflate use them.
      if (this.rsv !== 0) handler.onViolation('unexpected_rsv');
      if (!this.fin) handler.onViolation('fragmented_control_frame');
      if (this.payloadLength > MAX_CONTROL_PAYLOAD) handler.onViolation('oversized_control_frame');
    } else if (opcode > 0x2) {
      handler.onViolation('invalid_opcode');
    }
    if (this.hasMask !== this.expectMask) handler.onViolation('bad_masking');

    if (isClose && this.payloadLength === 0) this.endClose();
  }

  /** A close frame's payload is complete: decode and report it. */
  private endClose(): void {
    this.state = S_FIRST_BYTE;
    this.closeFrameCount++;
    const handler = this.handler;
    const length = this.payloadLength;
    if (length === 0) {
      handler.onCloseFrame(CLOSE_CODE_NONE, 0, true);
      return;
    }
    if (length === 1) {
      handler.onViolation('short_close_payload');
      handler.onCloseFrame(CLOSE_CODE_UNREADABLE, 0, true);
      return;
    }
    const buf = this.closePayload as Buffer; // filled: the payload had at least 2 bytes
    const code = ((buf[0] as number) << 8) | (buf[1] as number);
    const violation = wireViolation(code);
    if (violation !== undefined) handler.onViolation(violation);
    const truncated = length > MAX_CONTROL_PAYLOAD;
    const reasonUtf8 = this.isReasonUtf8(truncated ? MAX_CONTROL_PAYLOAD : length, truncated);
    if (!reasonUtf8) handler.onViolation('invalid_utf8_reason');
    handler.onCloseFrame(code, length - 2, reasonUtf8);
  }

  /**
   * Whether closePayload[2, end) is UTF-8. For an oversized frame only a
   * prefix was kept, so a code point cut off at its end is not held against it.
   */
  private isReasonUtf8(end: number, truncated: boolean): boolean {
    const buf = this.closePayload as Buffer;
    let ascii = true;
    for (let k = 2; k < end; k++) {
      if ((buf[k] as number) >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (ascii) return true;
    if (truncated) end = completeCodePointsEnd(buf, 2, end);
    return isUtf8(buf.subarray(2, end));
  }
}

/**
 * The end of buf[start, end) without a trailing, incomplete UTF-8 sequence
 * (a lead byte followed by fewer continuation bytes than it announces).
 */
function completeCodePointsEnd(buf: Buffer, start: number, end: number): number {
  let lead = end - 1;
  while (lead >= start && lead > end - 4 && ((buf[lead] as number) & 0xc0) === 0x80) lead--;
  if (lead < start) return end;
  const b = buf[lead] as number;
  const needed = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
  return end - lead < needed ? lead : end;
}

/**
 * Which protocol violation `ws` rejected a frame for, read from the error
 * its receiver raised (ws names each with a stable WS_ERR_* code).
 */
import { wireViolation } from '../codes/close-codes.js';
import type { ViolationKind } from '../codes/vocabulary.js';

/** The violation ws rejected a frame for, from the error it raised. */
export function violationOfWsError(err: unknown, receiverOpcode: number | undefined): ViolationKind {
  const e = err as { code?: unknown; message?: unknown };
  const message = typeof e.message === 'string' ? e.message : '';
  switch (e.code) {
    case 'WS_ERR_INVALID_CLOSE_CODE': {
      const m = /invalid status code (\d+)/.exec(message);
      return (m && wireViolation(Number(m[1]))) || 'invalid_code';
    }
    case 'WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH':
      return /invalid payload length 1$/.test(message) ? 'short_close_payload' : 'oversized_control_frame';
    case 'WS_ERR_EXPECTED_FIN':
      return 'fragmented_control_frame';
    case 'WS_ERR_INVALID_UTF8':
      return receiverOpcode === 0x08 ? 'invalid_utf8_reason' : 'invalid_utf8_message';
    case 'WS_ERR_INVALID_OPCODE':
      return 'invalid_opcode';
    case 'WS_ERR_UNEXPECTED_RSV_1':
    case 'WS_ERR_UNEXPECTED_RSV_2_3':
      return 'unexpected_rsv';
    case 'WS_ERR_EXPECTED_MASK':
    case 'WS_ERR_UNEXPECTED_MASK':
      return 'bad_masking';
    case 'WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH':
      return 'invalid_frame_length';
    case 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH':
      return 'message_too_large';
    default:
      return 'other';
  }
}

/**
 * What the hook can tell about how a connection ended, read from `ws`'s
 * state and its socket when the close is emitted (docs/explaining-closes.md
 * lists what it cannot tell): for a close without a close frame, the side
 * whose transport ended first and why; for a close handshake, how long it
 * took and whether the other side answered.
 *
 * Nothing here listens to the socket: Node keeps the error a socket was
 * destroyed with (`socket.errored`) and whether the peer's FIN arrived
 * (`readableEnded`), and `ws` keeps whether each close frame was sent and
 * received, so one look at the end is enough.
 */
import { CAUSE_ERROR, CAUSE_FIN, CAUSE_RESET, CAUSE_TERMINATED, CAUSE_TIMEOUT, INITIATOR_CLIENT, INITIATOR_SERVER } from '../codes/vocabulary.js';

/** The ws and net.Socket internals read here; every access is guarded. */
export interface EndView {
  _socket?: { errored?: unknown; readableEnded?: boolean } | null;
  _closeFrameReceived?: boolean;
  _closeFrameSent?: boolean;
  _closeTimeout?: number;
}

/** The per-connection state this module reads and writes (part of the hook's ConnectionState). */
export interface HandshakeState {
  /** performance.now() when the first close frame was sent or received; 0 while none. */
  closeStart: number;
  /** Who sent that first close frame (an INITIATORS index). */
  closeBy: number;
  /** The server ended the transport with terminate(). */
  terminated: boolean;
  /** The initiator recorded for a terminate() (server, or the one it was attributed to). */
  initiator: number;
}

/** Side and cause of a close without a close frame, packed as side * 8 + cause. */
export const packAbnormal = (side: number, cause: number): number => side * 8 + cause;

/** Socket error codes that mean the peer's transport went away under us. */
function isReset(code: unknown): boolean {
  return code === 'ECONNRESET' || code === 'EPIPE';
}

/**
 * Side and cause (packed) of a close without a close frame: terminate()
 * first (the socket then has neither error nor FIN), then the error the
 * socket was destroyed with, then the peer's FIN; a socket destroyed with
 * none of these was destroyed on the server's side by something other than
 * terminate() (the server's own code, or ws's close timer).
 */
export function abnormalOf(ws: EndView, st: HandshakeState): number {
  if (st.terminated) return packAbnormal(st.initiator, CAUSE_TERMINATED);
  const socket = ws._socket;
  const err = socket?.errored as { code?: unknown } | null | undefined;
  if (err) {
    if (isReset(err.code)) return packAbnormal(INITIATOR_CLIENT, CAUSE_RESET);
    // The server's TCP stack gave up on a peer that stopped answering (keepalive or retransmission timeout).
    if (err.code === 'ETIMEDOUT') return packAbnormal(INITIATOR_SERVER, CAUSE_TIMEOUT);
    return packAbnormal(INITIATOR_CLIENT, CAUSE_ERROR);
  }
  if (socket?.readableEnded === true) return packAbnormal(INITIATOR_CLIENT, CAUSE_FIN);
  return packAbnormal(INITIATOR_SERVER, CAUSE_TERMINATED);
}

/**
 * The server called close() but its close frame never left: the peer
 * stopped reading, the frame stayed queued, and ws's close timer destroyed
 * the socket after `closeTimeout`. No close frame was on the connection, so
 * it is a 1006 (server, timeout), not a close with the server's code.
 */
export function closeFrameLost(ws: EndView, st: HandshakeState, now: number): boolean {
  if (st.closeBy !== INITIATOR_SERVER || st.closeStart === 0 || st.terminated) return false;
  if (ws._closeFrameSent !== false || ws._closeFrameReceived === true) return false;
  if (ws._socket?.errored) return false;
  const timeout = ws._closeTimeout;
  return typeof timeout === 'number' && now - st.closeStart >= timeout - 1;
}

/** A close() call while the connection was open starts the close handshake; the client's frame arriving is such a call too (ws answers it). */
export function noteCloseStart(ws: EndView, st: HandshakeState, now: number, serverInitiator: number): void {
  if (st.closeStart !== 0) return;
  st.closeStart = now;
  st.closeBy = ws._closeFrameReceived === true ? INITIATOR_CLIENT : serverInitiator;
}

/** Where a handshake is recorded (the hook: the recorder and the OTel bridge). */
export interface HandshakeSink {
  recordCloseHandshake(initiator: number, seconds: number, answered: boolean): void;
}

/**
 * Record the handshake of a connection that ended at `now` with a close
 * frame, if it had one. A client frame that arrived after the socket had
 * already ended gets no close() call from ws: its handshake starts and ends
 * at the end.
 */
export function recordHandshake(sink: HandshakeSink, ws: EndView, st: HandshakeState, now: number): void {
  if (st.closeStart === 0) {
    if (ws._closeFrameReceived === true) sink.recordCloseHandshake(INITIATOR_CLIENT, 0, ws._closeFrameSent === true);
    return;
  }
  const answered = st.closeBy === INITIATOR_CLIENT ? ws._closeFrameSent === true : ws._closeFrameReceived === true;
  sink.recordCloseHandshake(st.closeBy, (now - st.closeStart) / 1000, answered);
}

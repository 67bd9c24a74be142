/**
 * How a proxied connection ended, as the proxy sees it with both sockets in
 * hand: for a close without a close frame (1006), the side whose transport
 * ended first and why; for a close handshake, when its first close frame
 * passed, who sent it, and whether the other side answered.
 *
 * The causes, from the socket events: a FIN ('end') is `fin`; an
 * ECONNRESET/EPIPE error is `reset`; ETIMEDOUT (the kernel gave up on a peer)
 * and the agent's own timers (the half-close timeout, the idle timeout's
 * grace, the drain deadline) are `timeout`; any other error is `error`. The
 * proxy cannot tell a server's terminate() from its FIN or RST: it is counted
 * as that (`terminated` is for the hook, which sees the call).
 */
import {
  CAUSE_ERROR,
  CAUSE_FIN,
  CAUSE_RESET,
  CAUSE_TIMEOUT,
  INITIATOR_AGENT,
  INITIATOR_CLIENT,
  INITIATOR_SERVER,
  SIDE_CLIENT,
} from '../../codes/vocabulary.js';

/** The cause of a socket error, by its code. */
export function causeOfError(err: unknown): number {
  const code = (err as { code?: unknown } | null | undefined)?.code;
  if (code === 'ECONNRESET' || code === 'EPIPE') return CAUSE_RESET;
  if (code === 'ETIMEDOUT') return CAUSE_TIMEOUT;
  return CAUSE_ERROR;
}

/** Bit of a side (SIDE_CLIENT / SIDE_SERVER) in the masks below. */
const bit = (side: number): number => (side === SIDE_CLIENT ? 1 : 2);
const BOTH = 3;

/** Per connection: what record() needs to explain the close. */
export class CloseCause {
  /** Whose transport ended first (an ABNORMAL_SIDES index), -1 while both are up. */
  endSide = -1;
  endCause = CAUSE_FIN;
  /** performance.now() of the first close frame either way (the agent's included); 0 while none. */
  closeStart = 0;
  closeBy = INITIATOR_CLIENT;
  /** Sides that sent a close frame, and sides the agent sent one to. */
  private framesFrom = 0;
  private agentSentTo = 0;

  /** A transport event: the first one says who ended it. */
  transportEnded(side: number, cause: number): void {
    if (this.endSide >= 0) return;
    this.endSide = side;
    this.endCause = cause;
  }

  /**
   * One of the agent's timers ended the connection: the cause is `timeout`,
   * under the side that half-closed it first (the other never finished), or
   * the agent's when neither side had ended anything.
   */
  agentTimedOut(): void {
    if (this.endSide < 0) this.endSide = INITIATOR_AGENT;
    this.endCause = CAUSE_TIMEOUT;
  }

  /** A close frame from a peer (`side`: SIDE_CLIENT / SIDE_SERVER). */
  peerCloseFrame(side: number, now: number): void {
    this.framesFrom |= bit(side);
    if (this.closeStart === 0) {
      this.closeStart = now;
      this.closeBy = side === SIDE_CLIENT ? INITIATOR_CLIENT : INITIATOR_SERVER;
    }
  }

  /** The agent wrote its own close frame to the peer on side `to`. */
  agentCloseFrame(to: number, now: number): void {
    this.agentSentTo |= bit(to);
    if (this.closeStart === 0) {
      this.closeStart = now;
      this.closeBy = INITIATOR_AGENT;
    }
  }

  /** The other side answered the first close frame (for the agent: every peer it sent one to answered). */
  get answered(): boolean {
    if (this.closeBy === INITIATOR_CLIENT) return (this.framesFrom & 2) !== 0;
    if (this.closeBy === INITIATOR_SERVER) return (this.framesFrom & 1) !== 0;
    return (this.framesFrom & this.agentSentTo & BOTH) === this.agentSentTo;
  }
}

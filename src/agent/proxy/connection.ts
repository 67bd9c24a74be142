/**
 * The data plane of one proxied WebSocket connection: bytes pass through
 * unchanged in both directions while a FrameScanner per direction reads the
 * frame headers and close frames. The connection is recorded once, when both
 * sockets have closed, with the code of the first close frame either way (the
 * agent's own included) and who sent it; 1006 when none was seen.
 */
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { closeIdDetails, type CloseId } from '../../hook/close-id.js';
import type { CloseRecorder } from '../../recorder/recorder.js';
import { NO_KEY, nowMs, type ReconnectTracker } from '../../recorder/reconnects.js';
import {
  CAUSE_ERROR,
  CAUSE_FIN,
  INITIATOR_AGENT,
  INITIATOR_CLIENT,
  INITIATOR_SERVER,
  SIDE_CLIENT,
  SIDE_SERVER,
  type ViolationKind,
} from '../../codes/vocabulary.js';
import { CloseCause, causeOfError } from './close-cause.js';
import { CLOSE_CODE_NONE, FrameScanner, type FrameScanHandler } from '../frame-scanner.js';
import type { Logger } from '../log.js';

/** What a connection needs from the proxy that owns it. */
export interface ConnectionOwner {
  readonly recorder: CloseRecorder;
  readonly logger: Logger;
  /** How long a half-closed or agent-closed connection may take to finish before both sockets are ended. */
  readonly halfCloseTimeoutMs: number;
  /** The connection has been recorded: drop it from the open set. */
  forget(conn: Connection): void;
  /** Reconnect tracking (--client-key); undefined when off. */
  readonly reconnects?: ReconnectTracker | undefined;
}

const NO_CLOSE_YET = -1;

// Direction modes.
const FORWARD = 0; // pass bytes through
const INJECT_PENDING = 1; // an agent close frame waits for the next frame boundary
const SWALLOW = 2; // the agent closed this direction: scan, but forward nothing

/** A close frame with a 2-byte code, masked when it goes to the upstream (the agent speaks as the client). */
function encodeClose(code: number, masked: boolean): Buffer {
  if (!masked) return Buffer.from([0x88, 0x02, code >> 8, code & 0xff]);
  const key = randomBytes(4);
  return Buffer.from([0x88, 0x82, key[0]!, key[1]!, key[2]!, key[3]!, (code >> 8) ^ key[0]!, (code & 0xff) ^ key[1]!]);
}

/**
 * Each socket of a connection points at the Direction it feeds, and the
 * socket events go to these shared functions (called with the socket as
 * `this`) rather than to closures made per connection: an idle connection
 * then costs two sockets, two scanners and three small objects.
 */
const kDirection = Symbol('ws-close-agent.direction');
type TappedSocket = Socket & { [kDirection]: Direction };

function onSourceData(this: TappedSocket, chunk: Buffer): void {
  this[kDirection].onData(chunk);
}
/** This socket drained: resume the other socket, the source of the direction that writes here. */
function onSinkDrain(this: TappedSocket): void {
  this[kDirection].sink.resume();
}
function onSocketEnd(this: TappedSocket): void {
  const d = this[kDirection];
  d.conn.onTransportEnd(d);
}
function onSocketError(this: TappedSocket, err: Error): void {
  const d = this[kDirection];
  d.conn.onTransportError(d, err);
}
function onSocketClose(this: TappedSocket): void {
  const d = this[kDirection];
  d.conn.onTransportClose(d);
}

/**
 * One direction of a proxied connection: from `source` to `sink`, scanned by
 * its own FrameScanner. `side` is the side that sends in this direction.
 */
class Direction implements FrameScanHandler {
  readonly scanner: FrameScanner;
  mode = FORWARD;
  private injectCode = 0;

  constructor(
    readonly conn: Connection,
    readonly side: number,
    readonly source: Socket,
    readonly sink: Socket,
  ) {
    // Client frames are masked, upstream frames are not (RFC 6455 §5.1).
    this.scanner = new FrameScanner(this, { masked: side === SIDE_CLIENT });
    (source as TappedSocket)[kDirection] = this;
  }

  /** The initiator label value of this direction's sender. */
  get initiator(): number {
    return this.side === SIDE_CLIENT ? INITIATOR_CLIENT : INITIATOR_SERVER;
  }

  onData(chunk: Buffer): void {
    // A counter, not a clock read: the idle sweep notices when it stops moving.
    this.conn.activity++;
    if (this.mode === FORWARD) {
      this.scanner.push(chunk);
      if (!this.sink.write(chunk)) this.source.pause();
      return;
    }
    this.onDataWhileClosing(chunk);
  }

  /** Forward up to the next frame boundary, inject the agent's close frame there, scan the rest without forwarding. */
  private onDataWhileClosing(chunk: Buffer): void {
    let at = 0;
    if (this.mode === INJECT_PENDING) {
      while (at < chunk.length) {
        let n = this.scanner.bytesToBoundary();
        if (n === 0) break;
        // In the middle of a header the remaining length is unknown: read it a byte at a time.
        n = n < 0 ? 1 : Math.min(n, chunk.length - at);
        this.scanner.push(chunk, at, at + n);
        at += n;
      }
      if (at > 0) this.sink.write(chunk.subarray(0, at));
      if (this.scanner.bytesToBoundary() === 0) this.inject();
    }
    if (at < chunk.length) this.scanner.push(chunk, at);
  }

  /** Close this direction's sink with `code` at the next frame boundary. */
  closeAsAgent(code: number): void {
    if (this.mode !== FORWARD) return;
    this.injectCode = code;
    this.mode = INJECT_PENDING;
    if (this.scanner.bytesToBoundary() === 0) this.inject();
  }

  private inject(): void {
    this.mode = SWALLOW;
    if (!this.sink.writable) return;
    this.sink.write(encodeClose(this.injectCode, this.side === SIDE_CLIENT));
    this.conn.onAgentCloseFrame(this, this.injectCode);
  }

  onCloseFrame(code: number, reasonLength: number): void {
    this.conn.onCloseFrame(this, code === CLOSE_CODE_NONE || code < 0 ? 1005 : code, reasonLength);
  }

  onViolation(kind: ViolationKind): void {
    this.conn.recorder.recordViolation(this.side, kind);
  }
}

/** A WebSocket connection that completed its handshake through the proxy. */
export class Connection {
  readonly c2s: Direction;
  readonly s2c: Direction;
  readonly startedAt = performance.now();
  /** Chunks seen either way; the idle sweep compares it with its last look. */
  activity = 0;
  private sweptActivity = 0;
  private quietSince = this.startedAt;

  /** Called by the idle sweep: true when no byte has passed either way for `idleMs`. */
  idleFor(now: number, idleMs: number): boolean {
    if (this.activity !== this.sweptActivity) {
      this.sweptActivity = this.activity;
      this.quietSince = now;
      return false;
    }
    return now - this.quietSince >= idleMs;
  }
  /** Code of the first close frame; NO_CLOSE_YET until one is seen (0 is a code a peer can send). */
  private firstCode = NO_CLOSE_YET;
  private initiator = INITIATOR_CLIENT;
  /** Who ended the transport and why, and how the close handshake went. */
  private readonly cause = new CloseCause();
  /** Keyed hash of the client key (reconnect tracking); NO_KEY without one. */
  keyHash = NO_KEY;
  private socketsClosed = 0;
  private recorded = false;
  private closeTimer: NodeJS.Timeout | undefined;
  /** Path, peer and reason for close listeners (set by the upgrade while recorder.wantsDetails); undefined otherwise. */
  details: { at: number; path: string | undefined; peer: string | undefined; reason: Buffer | undefined; closeId: CloseId | undefined } | undefined;

  constructor(
    private readonly owner: ConnectionOwner,
    readonly client: Socket,
    readonly upstream: Socket,
    /** The upgrade request's ws_close_id, given to close listeners (the client-report join). */
    private readonly closeId?: CloseId | undefined,
  ) {
    this.c2s = new Direction(this, SIDE_CLIENT, client, upstream);
    this.s2c = new Direction(this, SIDE_SERVER, upstream, client);
  }

  get recorder(): CloseRecorder {
    return this.owner.recorder;
  }

  /** Start piping; `clientHead`/`upstreamHead` are bytes that arrived with the request / right after the 101. */
  start(clientHead: Buffer, upstreamHead: Buffer): void {
    for (const socket of [this.client, this.upstream]) {
      socket.setNoDelay(true);
      socket.on('data', onSourceData);
      // Backpressure: a sink that cannot keep up pauses the socket feeding it.
      socket.on('drain', onSinkDrain);
      socket.on('end', onSocketEnd);
      socket.on('error', onSocketError);
      socket.on('close', onSocketClose);
    }
    if (upstreamHead.length > 0) this.s2c.onData(upstreamHead);
    if (clientHead.length > 0) this.c2s.onData(clientHead);
    this.client.resume();
    this.upstream.resume();
  }

  onCloseFrame(direction: Direction, code: number, reasonLength = 0): void {
    if (this.firstCode === NO_CLOSE_YET) {
      this.firstCode = code;
      // Kept only while a close listener (the live page's ring, the close log) wants it.
      if (this.details !== undefined) this.details.reason = direction.scanner.copyCloseReason(reasonLength);
      this.initiator = direction.side === SIDE_CLIENT ? INITIATOR_CLIENT : INITIATOR_SERVER;
    }
    this.cause.peerCloseFrame(direction.side, performance.now());
    // The peer answered a close the agent sent: its close handshake is complete.
    if (direction.mode === SWALLOW) direction.source.end();
  }

  /**
   * The agent closes the connection itself (drain, idle timeout): `code` both
   * ways at frame boundaries. With `endAfterGrace`, both sockets are ended if
   * the peers have not finished within the half-close timeout.
   */
  closeAsAgent(code: number, endAfterGrace: boolean): void {
    // The close is the agent's once its frame is written (onAgentCloseFrame): a peer stuck mid-frame never gets one.
    this.c2s.closeAsAgent(code);
    this.s2c.closeAsAgent(code);
    if (endAfterGrace) this.armCloseTimer();
  }

  /** The agent wrote its close frame with `code` into `direction`'s sink. */
  onAgentCloseFrame(direction: Direction, code: number): void {
    if (this.firstCode === NO_CLOSE_YET) {
      this.firstCode = code;
      this.initiator = INITIATOR_AGENT;
    }
    this.cause.agentCloseFrame(direction.side === SIDE_CLIENT ? SIDE_SERVER : SIDE_CLIENT, performance.now());
  }

  /** End both sockets now: the drain's deadline, or the half-close timer. */
  destroy(): void {
    this.cause.agentTimedOut();
    this.client.destroy();
    this.upstream.destroy();
  }

  /** One side half-closed (FIN): pass it on, and end everything after the grace period. */
  onTransportEnd(from: Direction): void {
    this.cause.transportEnded(from.initiator, CAUSE_FIN);
    from.sink.end();
    this.armCloseTimer();
  }

  onTransportError(from: Direction, err: Error): void {
    this.cause.transportEnded(from.initiator, causeOfError(err));
    from.sink.destroy();
  }

  onTransportClose(from: Direction): void {
    // A socket closed with neither FIN nor error first: destroyed on this side of it.
    this.cause.transportEnded(from.initiator, CAUSE_ERROR);
    this.onSocketClose(from.sink);
  }

  private armCloseTimer(): void {
    if (this.closeTimer !== undefined) return;
    this.closeTimer = setTimeout(() => this.destroy(), this.owner.halfCloseTimeoutMs);
    this.closeTimer.unref();
  }

  private onSocketClose(other: Socket): void {
    if (++this.socketsClosed === 2) {
      this.record();
      return;
    }
    // The other socket has no one left to talk to: end it once its writes are flushed.
    other.destroySoon();
    this.armCloseTimer();
  }

  private record(): void {
    if (this.recorded) return;
    this.recorded = true;
    if (this.closeTimer !== undefined) clearTimeout(this.closeTimer);
    this.owner.forget(this);
    const now = performance.now();
    const duration = (now - this.startedAt) / 1000;
    const cause = this.cause;
    try {
      const details = this.details ?? closeIdDetails(this.closeId);
      if (this.details !== undefined) this.details.at = now;
      if (this.firstCode !== NO_CLOSE_YET) {
        this.recorder.recordClose(this.firstCode, this.initiator, duration, details);
        this.recorder.recordCloseHandshake(cause.closeBy, (now - cause.closeStart) / 1000, cause.answered);
      } else {
        this.recorder.recordAbnormalClose(cause.endSide < 0 ? INITIATOR_CLIENT : cause.endSide, cause.endCause, duration, details);
      }
      if (this.keyHash !== NO_KEY) this.owner.reconnects?.close(this.keyHash, this.firstCode === NO_CLOSE_YET ? 1006 : this.firstCode, nowMs());
    } catch (err) {
      this.owner.logger.error('recording a close failed', { err });
    }
  }
}

/**
 * Agent mode: a transparent WebSocket proxy. For an upgrade request it
 * connects to the upstream, relays the upstream's answer and, on 101, passes
 * bytes through unchanged in both directions while a FrameScanner per
 * direction reads the frame headers and close frames. Each opened connection
 * is recorded once when both sockets have closed (SPEC sections 3 and 4).
 * Plain HTTP requests are forwarded to the upstream as well.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, request as httpRequest, type ClientRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { request as httpsRequest, type RequestOptions as HttpsRequestOptions } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { CloseRecorder } from '../recorder/recorder.js';
import {
  INITIATOR_AGENT,
  INITIATOR_CLIENT,
  INITIATOR_SERVER,
  SIDE_CLIENT,
  SIDE_SERVER,
  type UpgradeFailureReason,
  type ViolationKind,
} from '../codes/vocabulary.js';
import { CLOSE_CODE_NONE, FrameScanner, type FrameScanHandler } from './frame-scanner.js';
import { checkInterval, onClientError, rejectUpgrade } from './http-errors.js';
import { upstreamHandshake, type UpstreamTarget } from './upstream-handshake.js';
import type { Logger } from './log.js';

export interface ProxyOptions {
  upstream: URL;
  recorder: CloseRecorder;
  logger: Logger;
  /** 0 = no limit. */
  maxConnections: number;
  handshakeTimeoutMs: number;
  connectTimeoutMs: number;
  /** 0 = off. */
  idleTimeoutMs: number;
  halfCloseTimeoutMs: number;
}

export interface ProxyServer {
  readonly server: Server;
  readonly openConnections: number;
  /** Stop accepting; send 1001 both ways on every connection at a frame boundary; end the rest after timeoutMs. */
  drain(timeoutMs: number): Promise<{ drained: number; terminated: number }>;
}

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const KEY_PATTERN = /^[+/0-9A-Za-z]{22}==$/;
const GOING_AWAY = 1001;
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

const ignore = (): void => undefined;

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
function onSocketError(this: TappedSocket): void {
  const d = this[kDirection];
  d.conn.onTransportError(d);
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
    if (this.sink.writable) this.sink.write(encodeClose(this.injectCode, this.side === SIDE_CLIENT));
  }

  onCloseFrame(code: number): void {
    this.conn.onCloseFrame(this, code === CLOSE_CODE_NONE || code < 0 ? 1005 : code);
  }

  onViolation(kind: ViolationKind): void {
    this.conn.recorder.recordViolation(this.side, kind);
  }
}

/** A WebSocket connection that completed its handshake through the proxy. */
class Connection {
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
  private transportEndedBy = -1;
  private socketsClosed = 0;
  private recorded = false;
  private closeTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly proxy: Proxy,
    readonly client: Socket,
    readonly upstream: Socket,
  ) {
    this.c2s = new Direction(this, SIDE_CLIENT, client, upstream);
    this.s2c = new Direction(this, SIDE_SERVER, upstream, client);
  }

  get recorder(): CloseRecorder {
    return this.proxy.recorder;
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

  onCloseFrame(direction: Direction, code: number): void {
    if (this.firstCode === NO_CLOSE_YET) {
      this.firstCode = code;
      this.initiator = direction.side === SIDE_CLIENT ? INITIATOR_CLIENT : INITIATOR_SERVER;
    }
    // The peer answered a close the agent sent: its close handshake is complete.
    if (direction.mode === SWALLOW) direction.source.end();
  }

  /**
   * The agent closes the connection itself (drain, idle timeout): `code` both
   * ways at frame boundaries. With `endAfterGrace`, both sockets are ended if
   * the peers have not finished within the half-close timeout.
   */
  closeAsAgent(code: number, endAfterGrace: boolean): void {
    if (this.firstCode === NO_CLOSE_YET) {
      this.firstCode = code;
      this.initiator = INITIATOR_AGENT;
    }
    this.c2s.closeAsAgent(code);
    this.s2c.closeAsAgent(code);
    if (endAfterGrace) this.armCloseTimer();
  }

  /** End both sockets now (drain timeout). */
  destroy(asAgent: boolean): void {
    if (asAgent && this.firstCode === NO_CLOSE_YET && this.transportEndedBy < 0) this.transportEndedBy = INITIATOR_AGENT;
    this.client.destroy();
    this.upstream.destroy();
  }

  private noteTransportEnd(by: number): void {
    if (this.transportEndedBy < 0) this.transportEndedBy = by;
  }

  /** One side half-closed (FIN): pass it on, and end everything after the grace period. */
  onTransportEnd(from: Direction): void {
    this.noteTransportEnd(from.initiator);
    from.sink.end();
    this.armCloseTimer();
  }

  onTransportError(from: Direction): void {
    this.noteTransportEnd(from.initiator);
    from.sink.destroy();
  }

  onTransportClose(from: Direction): void {
    this.noteTransportEnd(from.initiator);
    this.onSocketClose(from.sink);
  }

  private armCloseTimer(): void {
    if (this.closeTimer !== undefined) return;
    this.closeTimer = setTimeout(() => this.destroy(false), this.proxy.options.halfCloseTimeoutMs);
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
    this.proxy.forget(this);
    const duration = (performance.now() - this.startedAt) / 1000;
    try {
      if (this.firstCode !== NO_CLOSE_YET) this.recorder.recordClose(this.firstCode, this.initiator, duration);
      else this.recorder.recordClose(1006, this.transportEndedBy < 0 ? INITIATOR_CLIENT : this.transportEndedBy, duration);
    } catch (err) {
      this.proxy.options.logger.error('recording a close failed', { err });
    }
  }
}

class Proxy implements ProxyServer {
  readonly server: Server;
  readonly recorder: CloseRecorder;
  private readonly live = new Set<Connection>();
  private pending = 0;
  private draining = false;
  private openedWhileDraining = 0;
  private readonly idleTimer: NodeJS.Timeout | undefined;
  private readonly requestUpstream: typeof httpRequest;
  private readonly basePath: string;
  private readonly target: UpstreamTarget;

  constructor(readonly options: ProxyOptions) {
    this.recorder = options.recorder;
    const tls = options.upstream.protocol === 'wss:';
    this.requestUpstream = tls ? httpsRequest : httpRequest;
    this.basePath = options.upstream.pathname.replace(/\/$/, '');
    const host = options.upstream.hostname.replace(/^\[|\]$/g, '');
    this.target = { host, port: Number(options.upstream.port) || (tls ? 443 : 80), tls };
    // Node checks header/request timeouts every connectionsCheckingInterval (30 s by default).
    this.server = createServer({ connectionsCheckingInterval: checkInterval(options.handshakeTimeoutMs) }, this.onRequest);
    // Slow or incomplete request heads are dropped by Node's header timeout.
    this.server.headersTimeout = options.handshakeTimeoutMs;
    this.server.requestTimeout = options.handshakeTimeoutMs;
    this.server.on('upgrade', this.onUpgrade);
    this.server.on('clientError', onClientError(this.recorder));
    if (options.idleTimeoutMs > 0) {
      this.idleTimer = setInterval(this.closeIdle, Math.max(50, Math.min(1000, options.idleTimeoutMs / 4)));
      this.idleTimer.unref();
    }
  }

  get openConnections(): number {
    return this.live.size;
  }

  forget(conn: Connection): void {
    this.live.delete(conn);
  }

  /** The upstream request target for a client request target. */
  private targetPath(url: string | undefined): string {
    const path = url && url.startsWith('/') ? url : '/';
    if (this.basePath === '') return path;
    return path === '/' ? this.basePath + this.options.upstream.search : this.basePath + path;
  }

  /** The client's headers as received (name, value, ...), with the client's address added to X-Forwarded-For. */
  private forwardedHeaders(req: IncomingMessage): string[] {
    const remote = req.socket.remoteAddress;
    const headers = [...req.rawHeaders];
    if (remote) {
      const i = headers.findIndex((h, k) => k % 2 === 0 && h.toLowerCase() === 'x-forwarded-for');
      if (i >= 0) headers[i + 1] = `${headers[i + 1] as string}, ${remote}`;
      else headers.push('X-Forwarded-For', remote);
    }
    return headers;
  }

  private upstreamRequestOptions(req: IncomingMessage): HttpsRequestOptions {
    const { host, port } = this.target;
    return {
      host,
      port,
      method: req.method,
      path: this.targetPath(req.url),
      headers: this.forwardedHeaders(req) as unknown as Record<string, string>, // Node accepts rawHeaders-style arrays
      setHost: false,
      agent: false,
      servername: this.options.upstream.hostname,
    };
  }

  private fail(socket: Duplex, reason: UpgradeFailureReason, status: number, text: string, message: string, extraHeaders?: string): void {
    this.recorder.recordUpgradeFailure(reason);
    rejectUpgrade(socket, status, text, message, extraHeaders);
  }

  private readonly onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const client = socket as Socket;
    client.on('error', ignore); // until piping starts; errors then end the connection
    if (this.draining) return rejectUpgrade(client, 503, 'Service Unavailable', 'draining\n');
    const key = req.headers['sec-websocket-key'];
    if (req.method !== 'GET' || (req.headers.upgrade ?? '').toLowerCase() !== 'websocket') {
      return this.fail(client, 'bad_request', 400, 'Bad Request', 'only WebSocket upgrades (GET, Upgrade: websocket) are proxied\n');
    }
    if (typeof key !== 'string' || !KEY_PATTERN.test(key)) {
      return this.fail(client, 'bad_request', 400, 'Bad Request', 'missing or invalid Sec-WebSocket-Key\n');
    }
    if (req.headers['sec-websocket-version'] !== '13') {
      return this.fail(client, 'bad_request', 400, 'Bad Request', 'unsupported Sec-WebSocket-Version (13 is supported)\n', 'Sec-WebSocket-Version: 13\r\n');
    }
    const max = this.options.maxConnections;
    if (max > 0 && this.live.size + this.pending >= max) {
      return this.fail(client, 'over_capacity', 503, 'Service Unavailable', 'over capacity\n');
    }
    this.connectUpstream(req, client, head, key);
  };

  /** The request head sent to the upstream: the client's, with the target path and X-Forwarded-For. */
  private upgradeRequestHead(req: IncomingMessage): string {
    const headers = this.forwardedHeaders(req);
    let out = `${req.method ?? 'GET'} ${this.targetPath(req.url)} HTTP/1.1\r\n`;
    for (let i = 0; i + 1 < headers.length; i += 2) out += `${headers[i] as string}: ${headers[i + 1] as string}\r\n`;
    return `${out}\r\n`;
  }

  private connectUpstream(req: IncomingMessage, client: Socket, head: Buffer, key: string): void {
    this.pending++;
    upstreamHandshake(
      {
        target: this.target,
        requestHead: this.upgradeRequestHead(req),
        expectedAccept: createHash('sha1').update(key + WS_GUID).digest('base64'),
        timeoutMs: this.options.connectTimeoutMs,
        client,
      },
      (outcome) => {
        this.pending--;
        switch (outcome.kind) {
          case 'upgraded':
            return this.opened(client, head, outcome.socket, outcome.head, outcome.answerHead);
          case 'answered':
            // Not a 101: relayed unchanged, and the connection is not opened.
            return this.recorder.recordUpgradeFailure('upstream_rejected');
          case 'invalid':
            this.options.logger.debug('upstream answered with an invalid handshake', { why: outcome.why });
            return this.fail(client, 'upstream_rejected', 502, 'Bad Gateway', 'upstream answered the upgrade with an invalid handshake\n');
          case 'timeout':
            return this.fail(client, 'upstream_timeout', 504, 'Gateway Timeout', 'upstream did not answer in time\n');
          case 'unreachable':
            this.options.logger.debug('upstream unreachable', { code: outcome.code });
            return this.fail(client, 'upstream_unreachable', 502, 'Bad Gateway', `upstream unreachable: ${outcome.code}\n`);
          case 'aborted':
            return this.recorder.recordUpgradeFailure('client_aborted');
        }
      },
    );
  }

  /** The upstream answered 101: relay its answer head and start piping. */
  private opened(client: Socket, clientHead: Buffer, upstream: Socket, upstreamHead: Buffer, answerHead: Buffer): void {
    if (!client.writable || client.readableEnded) {
      upstream.destroy();
      client.destroy();
      this.recorder.recordUpgradeFailure('client_aborted');
      return;
    }
    client.write(answerHead);
    const conn = new Connection(this, client, upstream);
    this.live.add(conn);
    this.recorder.recordOpen();
    conn.start(clientHead, upstreamHead);
    if (this.draining) {
      // The upgrade was in flight when the drain began: it opens, and closes like the rest.
      this.openedWhileDraining++;
      conn.closeAsAgent(GOING_AWAY, false);
    }
  }

  /** Plain HTTP: forward to the upstream and stream the answer back. */
  private readonly onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    let upstreamReq: ClientRequest;
    try {
      upstreamReq = this.requestUpstream(this.upstreamRequestOptions(req));
    } catch {
      res.writeHead(400, { 'Content-Type': 'text/plain; charset=utf-8' }).end('request cannot be forwarded\n');
      return;
    }
    const timer = setTimeout(() => {
      upstreamReq.destroy(Object.assign(new Error('upstream timeout'), { code: 'ETIMEDOUT' }));
    }, this.options.connectTimeoutMs);
    upstreamReq.on('response', (upstreamRes) => {
      clearTimeout(timer);
      res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.statusMessage, upstreamRes.rawHeaders as unknown as Record<string, string>);
      upstreamRes.pipe(res);
    });
    upstreamReq.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const timeout = err.code === 'ETIMEDOUT';
      res.writeHead(timeout ? 504 : 502, { 'Content-Type': 'text/plain; charset=utf-8' }).end(timeout ? 'upstream did not answer in time\n' : `upstream unreachable: ${err.code ?? 'error'}\n`);
    });
    res.on('close', () => {
      if (!res.writableFinished) upstreamReq.destroy();
    });
    req.pipe(upstreamReq);
  };

  private readonly closeIdle = (): void => {
    const now = performance.now();
    for (const conn of this.live) if (conn.idleFor(now, this.options.idleTimeoutMs)) conn.closeAsAgent(GOING_AWAY, true);
  };

  async drain(timeoutMs: number): Promise<{ drained: number; terminated: number }> {
    this.draining = true;
    this.server.close();
    if (this.idleTimer) clearInterval(this.idleTimer);
    for (const conn of this.live) conn.closeAsAgent(GOING_AWAY, false);
    const deadline = Date.now() + timeoutMs;
    const total = this.live.size;
    // Upgrades in flight (pending) complete and are closed as they open.
    while ((this.live.size > 0 || this.pending > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    const terminated = this.live.size;
    for (const conn of this.live) conn.destroy(true);
    const hardDeadline = Date.now() + 1000;
    while (this.live.size > 0 && Date.now() < hardDeadline) await new Promise((r) => setTimeout(r, 10));
    this.server.closeAllConnections();
    return { drained: total + this.openedWhileDraining - terminated, terminated };
  }
}

export function createProxyServer(options: ProxyOptions): ProxyServer {
  return new Proxy(options);
}

/**
 * The proxy's listener: a net.Server (a tls.Server with --tls-cert) that
 * reads each connection's first request head itself. A WebSocket upgrade in
 * the plainest form (request-head.ts) goes to the upgrade handler with no
 * HTTP parser, request or response object made for it. Everything else (a
 * plain request, an unusual or malformed head, one too large) is handed to a
 * node:http server with the bytes read so far put back, so Node answers it as
 * it always has (keep-alive, client reports, forwarding, 400/431 for bad
 * heads), and an upgrade that comes that way reaches the same handler.
 *
 * A head that does not arrive within the handshake timeout gets 408, a
 * client that leaves mid-head or resets is counted as aborted, as Node's
 * server does through onClientError.
 */
import { createServer as createHttpServer, type RequestListener, type Server as HttpServer } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import type { CloseRecorder } from '../../recorder/recorder.js';
import { onClientError } from '../http-errors.js';
import type { TlsPair } from '../tls.js';
import { MAX_HEAD, mayBecomeUpgradeHead, readUpgradeHead, type UpgradeRequest } from './request-head.js';

export type UpgradeListener = (req: UpgradeRequest, socket: Socket, head: Buffer) => void;

/** How often Node's server looks for requests past the handshake timeout (its default is every 30 s). */
function checkInterval(handshakeTimeoutMs: number): number {
  return Math.max(50, Math.min(1000, Math.floor(handshakeTimeoutMs / 4)));
}

const kHead = Symbol('ws-close-agent.head');

/** A connection whose first head is being read. */
class HeadState {
  buffered: Buffer | undefined = undefined;
  readonly timer: NodeJS.Timeout;
  constructor(
    readonly front: ProxyFront,
    socket: HeadSocket,
  ) {
    this.timer = setTimeout(onHeadTimeout, front.handshakeTimeoutMs, socket);
  }
}
type HeadSocket = Socket & { [kHead]?: HeadState | undefined };

function onHeadTimeout(socket: HeadSocket): void {
  const state = socket[kHead];
  if (state === undefined) return;
  state.front.stopReading(socket, state);
  state.front.clientError(Object.assign(new Error('request head timeout'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' }), socket);
}

function onHeadData(this: HeadSocket, chunk: Buffer): void {
  const state = this[kHead];
  if (state !== undefined) state.front.onData(this, state, chunk);
}

function onHeadError(this: HeadSocket, err: Error): void {
  const state = this[kHead];
  if (state === undefined) return;
  state.front.stopReading(this, state);
  state.front.clientError(err, this);
}

function onHeadEnd(this: HeadSocket): void {
  const state = this[kHead];
  if (state === undefined) return;
  state.front.stopReading(this, state);
  // A FIN in the middle of a head is llhttp's EOF error; before any byte, nothing was asked.
  if (state.buffered !== undefined) state.front.clientError(Object.assign(new Error('client left mid-head'), { code: 'HPE_INVALID_EOF_STATE' }), this);
  else this.destroy();
}

function onHeadClose(this: HeadSocket): void {
  const state = this[kHead];
  if (state !== undefined) state.front.stopReading(this, state);
}

export class ProxyFront {
  /** The listener (net or tls). */
  readonly server: NetServer;
  /** Plain requests, and heads this reader leaves to Node; never listening itself. */
  readonly http: HttpServer;
  readonly clientError: (err: NodeJS.ErrnoException, socket: Socket) => void;
  /** Connections whose first head is being read (the drain ends them). */
  private readonly reading = new Set<Socket>();

  constructor(
    readonly handshakeTimeoutMs: number,
    recorder: CloseRecorder,
    onRequest: RequestListener,
    private readonly onUpgrade: UpgradeListener,
    tls?: TlsPair,
  ) {
    this.http = createHttpServer({ connectionsCheckingInterval: checkInterval(handshakeTimeoutMs) }, onRequest);
    this.http.headersTimeout = handshakeTimeoutMs;
    this.http.requestTimeout = handshakeTimeoutMs;
    this.clientError = onClientError(recorder);
    this.http.on('clientError', this.clientError);
    this.http.on('upgrade', onUpgrade);
    const accept = (socket: Socket): void => this.accept(socket);
    // With --tls-cert the listener speaks TLS (the TLS handshake gets the same timeout; tls.ts counts its failures).
    this.server = tls
      ? createTlsServer({ cert: tls.cert, key: tls.key, handshakeTimeout: handshakeTimeoutMs, noDelay: true, ALPNProtocols: ['http/1.1'] }, accept)
      : createNetServer({ allowHalfOpen: true, noDelay: true }, accept);
    // Node's server tracks its connections (timeouts, closeAllConnections) once it has 'listening'.
    this.server.on('listening', () => this.http.emit('listening'));
  }

  private accept(socket: HeadSocket): void {
    const state = new HeadState(this, socket);
    socket[kHead] = state;
    this.reading.add(socket);
    socket.on('data', onHeadData);
    socket.on('error', onHeadError);
    socket.on('end', onHeadEnd);
    socket.on('close', onHeadClose);
  }

  /** The head is read (or the connection is gone): this reader lets go of the socket. */
  stopReading(socket: HeadSocket, state: HeadState): void {
    clearTimeout(state.timer);
    socket[kHead] = undefined;
    this.reading.delete(socket);
    socket.removeListener('data', onHeadData);
    socket.removeListener('error', onHeadError);
    socket.removeListener('end', onHeadEnd);
    socket.removeListener('close', onHeadClose);
  }

  onData(socket: HeadSocket, state: HeadState, chunk: Buffer): void {
    const buf = state.buffered === undefined ? chunk : Buffer.concat([state.buffered, chunk]);
    // Search from a little before the new bytes: the blank line may straddle two chunks.
    const end = buf.indexOf('\r\n\r\n', state.buffered === undefined ? 0 : Math.max(0, state.buffered.length - 3), 'latin1');
    if (end < 0) {
      state.buffered = buf;
      if (buf.length > MAX_HEAD || !mayBecomeUpgradeHead(buf, buf.length)) this.toHttp(socket, state, buf);
      return;
    }
    const req = end + 4 <= MAX_HEAD ? readUpgradeHead(buf, end, socket) : undefined;
    if (req === undefined) {
      this.toHttp(socket, state, buf);
      return;
    }
    this.stopReading(socket, state);
    // As Node leaves an upgraded socket: not flowing, so that the next 'data' listener starts it.
    (socket as { readableFlowing: boolean | null }).readableFlowing = null;
    this.onUpgrade(req, socket, buf.subarray(end + 4));
  }

  /** Node's HTTP server reads this connection from its first byte on. */
  private toHttp(socket: HeadSocket, state: HeadState, buf: Buffer): void {
    this.stopReading(socket, state);
    socket.pause();
    socket.unshift(buf);
    this.http.emit('connection', socket);
    socket.resume();
  }

  /** Stop accepting; keep-alive connections idle between requests are ended, as Node's close() does. */
  close(): void {
    this.server.close();
    this.http.close();
  }

  /** End every connection still reading a head or held by Node's server (upgraded ones are the proxy's). */
  closeAllConnections(): void {
    for (const socket of this.reading) socket.destroy();
    this.http.closeAllConnections();
  }
}

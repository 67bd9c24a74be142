/**
 * What the agent accepts and how it lets connections go, the same for the
 * proxy and the echo endpoint: the front HTTP server and its handshake
 * timeout, which upgrade requests are refused (answered and counted here),
 * the idle timeout, and the drain on shutdown. Each front end supplies its
 * connections through a ConnectionPool; the policy never looks inside one.
 */
import { createServer, type IncomingMessage, type RequestListener, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import type { CloseRecorder } from '../recorder/recorder.js';
import type { UpgradeFailureReason } from '../codes/vocabulary.js';
import { onClientError, rejectUpgrade } from './http-errors.js';
import type { TlsPair } from './tls.js';

/** The code the agent closes with, both on idle timeout and on drain. */
export const GOING_AWAY = 1001;

/** 16 random bytes in base64, as RFC 6455 §4.1 requires of Sec-WebSocket-Key. */
const KEY_PATTERN = /^[+/0-9A-Za-z]{22}==$/;

/** How long the drain waits, after ending the connections left at its deadline, for their closes to be recorded. */
const END_WAIT_MS = 1000;
const POLL_MS = 10;

/** How often Node should look for requests past the handshake timeout (its default is every 30 s). */
function checkInterval(handshakeTimeoutMs: number): number {
  return Math.max(50, Math.min(1000, Math.floor(handshakeTimeoutMs / 4)));
}

/** How often the idle sweep runs: a quarter of the timeout, kept between 50 ms and 1 s; it bounds how late past its timeout an idle connection closes. */
function sweepInterval(idleTimeoutMs: number): number {
  return Math.max(50, Math.min(1000, idleTimeoutMs / 4));
}

/**
 * The HTTP server in front of the agent's WebSocket port. A request head
 * that is slow, incomplete or malformed is answered and counted by
 * onClientError; Node's own header timeout is what drops the slow ones.
 */
export function createFrontServer(handshakeTimeoutMs: number, recorder: CloseRecorder, onRequest: RequestListener, tls?: TlsPair): Server {
  const options = { connectionsCheckingInterval: checkInterval(handshakeTimeoutMs) };
  // With --tls-cert the same server speaks https (the TLS handshake gets the same timeout); tls.ts counts its failures.
  const server = tls
    ? (createHttpsServer({ ...options, cert: tls.cert, key: tls.key, handshakeTimeout: handshakeTimeoutMs }, onRequest) as unknown as Server)
    : createServer(options, onRequest);
  server.headersTimeout = handshakeTimeoutMs;
  server.requestTimeout = handshakeTimeoutMs;
  server.on('clientError', onClientError(recorder));
  return server;
}

/** The connections of one front end, as the policy sees them. */
export interface ConnectionPool<C> {
  /** Connections open now. */
  readonly openCount: number;
  /** Upgrades admitted that have not opened or failed yet (they count against the limit, and the drain waits for them). */
  readonly pendingCount: number;
  /** The open connections, iterated by the idle sweep and the drain. */
  connections(): Iterable<C>;
  /** Whether `conn` has seen no traffic for `idleMs` at `now` (performance.now()). */
  isIdle(conn: C, now: number, idleMs: number): boolean;
  /**
   * Close `conn` as the agent with 1001. `draining`: the drain's deadline
   * ends it if the peers do not finish; otherwise the connection's own
   * grace period does.
   */
  goAway(conn: C, draining: boolean): void;
  /** End `conn` now, as the agent (the drain's deadline has passed). */
  terminate(conn: C): void;
}

export interface AdmissionOptions {
  /** The front server: the drain stops it from accepting and then closes what is left of its sockets. */
  server: { close(): void; closeAllConnections(): void };
  recorder: CloseRecorder;
  /** 0 = no limit. */
  maxConnections: number;
  /** 0 = off. */
  idleTimeoutMs: number;
}

export interface DrainResult {
  /** Connections that closed within the drain timeout. */
  drained: number;
  /** Connections still open at the timeout, then ended. */
  terminated: number;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export class Admission<C> {
  private draining = false;
  /** Upgrades admitted before the drain that opened during it: they close like the rest and count as drained. */
  private openedWhileDraining = 0;
  private readonly idleTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly pool: ConnectionPool<C>,
    private readonly options: AdmissionOptions,
  ) {
    if (options.idleTimeoutMs > 0) {
      this.idleTimer = setInterval(this.sweepIdle, sweepInterval(options.idleTimeoutMs));
      this.idleTimer.unref();
    }
  }

  private refuse(socket: Duplex, reason: UpgradeFailureReason, status: number, text: string, message: string, extraHeaders?: string): false {
    this.options.recorder.recordUpgradeFailure(reason);
    rejectUpgrade(socket, status, text, message, extraHeaders);
    return false;
  }

  /**
   * Whether the upgrade request may go on. A refused one has been answered
   * and, unless the agent is draining (its own doing, not the client's),
   * counted as an upgrade failure. The request is checked before capacity:
   * a malformed request is the client's fault whatever the load.
   */
  admit(req: Pick<IncomingMessage, 'method' | 'headers'>, socket: Duplex): boolean {
    if (this.draining) {
      rejectUpgrade(socket, 503, 'Service Unavailable', 'draining\n');
      return false;
    }
    if (req.method !== 'GET' || (req.headers.upgrade ?? '').toLowerCase() !== 'websocket') {
      return this.refuse(socket, 'bad_request', 400, 'Bad Request', 'only WebSocket upgrades (GET, Upgrade: websocket) are accepted\n');
    }
    const key = req.headers['sec-websocket-key'];
    if (typeof key !== 'string' || !KEY_PATTERN.test(key)) {
      return this.refuse(socket, 'bad_request', 400, 'Bad Request', 'missing or invalid Sec-WebSocket-Key\n');
    }
    // Only version 13 (ws alone would also take the hybi-08 draft), and the
    // answer names it, as RFC 6455 §4.4 asks.
    if (req.headers['sec-websocket-version'] !== '13') {
      return this.refuse(socket, 'bad_request', 400, 'Bad Request', 'unsupported Sec-WebSocket-Version (13 is supported)\n', 'Sec-WebSocket-Version: 13\r\n');
    }
    const max = this.options.maxConnections;
    if (max > 0 && this.pool.openCount + this.pool.pendingCount >= max) {
      return this.refuse(socket, 'over_capacity', 503, 'Service Unavailable', 'over capacity\n');
    }
    return true;
  }

  /** A connection opened; one whose upgrade was in flight when the drain began is closed at once. */
  opened(conn: C): void {
    if (!this.draining) return;
    this.openedWhileDraining++;
    this.pool.goAway(conn, true);
  }

  private readonly sweepIdle = (): void => {
    const now = performance.now();
    for (const conn of this.pool.connections()) if (this.pool.isIdle(conn, now, this.options.idleTimeoutMs)) this.pool.goAway(conn, false);
  };

  /** Resolves once `done()` holds or at `deadline` (Date.now()). */
  private async until(done: () => boolean, deadline: number): Promise<void> {
    while (!done() && Date.now() < deadline) await sleep(POLL_MS);
  }

  /**
   * Stop accepting, send 1001 to every connection, wait up to `timeoutMs`
   * for them (and for upgrades in flight, which close as they open), then
   * end the rest.
   */
  async drain(timeoutMs: number): Promise<DrainResult> {
    const { pool, options } = this;
    this.draining = true;
    options.server.close();
    if (this.idleTimer) clearInterval(this.idleTimer);
    let total = 0;
    for (const conn of pool.connections()) {
      pool.goAway(conn, true);
      total++;
    }
    await this.until(() => pool.openCount === 0 && pool.pendingCount === 0, Date.now() + timeoutMs);
    const terminated = pool.openCount;
    for (const conn of pool.connections()) pool.terminate(conn);
    await this.until(() => pool.openCount === 0, Date.now() + END_WAIT_MS);
    options.server.closeAllConnections();
    return { drained: total + this.openedWhileDraining - terminated, terminated };
  }
}

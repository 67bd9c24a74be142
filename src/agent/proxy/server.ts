/**
 * Agent mode: a transparent WebSocket proxy in front of --upstream. Upgrade
 * requests become proxied connections (upgrade.ts, connection.ts); plain
 * HTTP requests are forwarded (forward.ts); admission, the idle timeout and
 * the drain follow the agent's one policy (admission.ts).
 */
import type { Server } from 'node:net';
import type { CloseRecorder } from '../../recorder/recorder.js';
import { Admission, GOING_AWAY, type ConnectionPool, type DrainResult } from '../admission.js';
import { withClientReportRoutes, type ClientReportRoutes } from '../client-reports.js';
import type { Logger } from '../log.js';
import type { AgentReconnectTracking } from '../reconnects.js';
import type { ReconnectTracker } from '../../recorder/reconnects.js';
import type { TlsPair } from '../tls.js';
import type { Connection } from './connection.js';
import { forwardRequests } from './forward.js';
import { ProxyFront } from './front.js';
import type { UpgradeRequest } from './request-head.js';
import { proxyTarget, type ProxyTarget } from './target.js';
import { handleUpgrades, type UpgradeOwner } from './upgrade.js';

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
  /** Reconnect tracking (--client-key); undefined when off. */
  reconnects?: AgentReconnectTracking | undefined;
  /** The agent's own routes (client reports), answered before a request is forwarded. */
  routes?: ClientReportRoutes | undefined;
  /** Serve wss:// with this pair (--tls-cert/--tls-key). */
  tls?: TlsPair;
}

export interface ProxyServer {
  readonly server: Server;
  readonly openConnections: number;
  /** Stop accepting; send 1001 both ways on every connection at a frame boundary; end the rest after timeoutMs. */
  drain(timeoutMs: number): Promise<DrainResult>;
}

class WebSocketProxy implements ProxyServer, UpgradeOwner, ConnectionPool<Connection> {
  readonly server: Server;
  readonly recorder: CloseRecorder;
  readonly logger: Logger;
  readonly target: ProxyTarget;
  readonly connectTimeoutMs: number;
  readonly halfCloseTimeoutMs: number;
  readonly admission: Admission<Connection>;
  readonly reconnects: ReconnectTracker | undefined;
  readonly clientKey: ((req: UpgradeRequest) => string | undefined) | undefined;
  pending = 0;
  private readonly live = new Set<Connection>();

  constructor(options: ProxyOptions) {
    this.recorder = options.recorder;
    this.logger = options.logger;
    this.target = proxyTarget(options.upstream);
    this.connectTimeoutMs = options.connectTimeoutMs;
    this.halfCloseTimeoutMs = options.halfCloseTimeoutMs;
    this.reconnects = options.reconnects?.tracker;
    this.clientKey = options.reconnects?.clientKey;
    const front = new ProxyFront(
      options.handshakeTimeoutMs,
      this.recorder,
      withClientReportRoutes(options.routes, forwardRequests(this.target, options.connectTimeoutMs)),
      handleUpgrades(this),
      options.tls,
    );
    this.server = front.server;
    this.admission = new Admission<Connection>(this, {
      server: front,
      recorder: this.recorder,
      maxConnections: options.maxConnections,
      idleTimeoutMs: options.idleTimeoutMs,
    });
  }

  get openConnections(): number {
    return this.live.size;
  }

  add(conn: Connection): void {
    this.live.add(conn);
  }

  forget(conn: Connection): void {
    this.live.delete(conn);
  }

  // ConnectionPool, for the admission policy.
  get openCount(): number {
    return this.live.size;
  }
  get pendingCount(): number {
    return this.pending;
  }
  connections(): Iterable<Connection> {
    return this.live;
  }
  isIdle(conn: Connection, now: number, idleMs: number): boolean {
    return conn.idleFor(now, idleMs);
  }
  goAway(conn: Connection, draining: boolean): void {
    // Idle: the connection ends itself after the half-close grace; draining: the drain's deadline ends it.
    conn.closeAsAgent(GOING_AWAY, !draining);
  }
  terminate(conn: Connection): void {
    conn.destroy();
  }

  drain(timeoutMs: number): Promise<DrainResult> {
    return this.admission.drain(timeoutMs);
  }
}

export function createProxyServer(options: ProxyOptions): ProxyServer {
  return new WebSocketProxy(options);
}

/**
 * The built-in echo endpoint served when no --upstream is given: a `ws`
 * server instrumented by the hook, so `npm start` shows the whole pipeline on
 * a fresh machine. Messages are echoed back; two text commands let a person
 * or a test make the server end the connection:
 *   "!close CODE [REASON]"  the server closes with CODE
 *   "!terminate"            the server drops the TCP connection (1006)
 *   "!pid"                  the server answers with its process id (which --workers process)
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { instrument } from '../hook/instrument.js';
import type { CloseRecorder } from '../recorder/recorder.js';
import { Admission, GOING_AWAY, createFrontServer, type DrainResult } from './admission.js';
import { rejectUpgrade } from './http-errors.js';
import { withClientReportRoutes, type ClientReportRoutes } from './client-reports.js';
import type { Logger } from './log.js';
import type { AgentReconnectTracking } from './reconnects.js';
import type { TlsPair } from './tls.js';
import { closeAsAgent, liveConnections, terminateAsAgent } from './tracked-connections.js';

export interface EchoServerOptions {
  recorder: CloseRecorder;
  logger: Logger;
  /** 0 = no limit. */
  maxConnections: number;
  handshakeTimeoutMs: number;
  /** Close connections with no message for this long with 1001 (initiator agent); 0 = off. */
  idleTimeoutMs: number;
  /** Largest message accepted (ws closes with 1009 above it). */
  maxPayload?: number;
  /** Reconnect tracking (--client-key), through the hook's own; undefined when off. */
  reconnects?: AgentReconnectTracking | undefined;
  /** The agent's own routes (client reports), answered before the echo endpoint's plain-HTTP answer. */
  routes?: ClientReportRoutes | undefined;
  /** Serve wss:// with this pair (--tls-cert/--tls-key). */
  tls?: TlsPair;
}

export interface EchoServer {
  readonly server: Server;
  readonly openConnections: number;
  /** Stop accepting, close every connection with 1001, end the rest after timeoutMs. */
  drain(timeoutMs: number): Promise<DrainResult>;
}

const MAX_COMMAND_LENGTH = 200;

const kLastActivity = Symbol('ws-close-agent.lastActivity');
type EchoSocket = WebSocket & { [kLastActivity]: number };

function noteActivity(this: WebSocket): void {
  (this as EchoSocket)[kLastActivity] = performance.now();
}

function onMessage(this: WebSocket, data: RawData, isBinary: boolean): void {
  (this as EchoSocket)[kLastActivity] = performance.now();
  // The server keeps ws's default binaryType ('nodebuffer'): every message is one Buffer.
  const bytes = data as Buffer;
  if (!isBinary && bytes.length <= MAX_COMMAND_LENGTH && bytes[0] === 0x21 /* ! */) {
    const text = bytes.toString();
    const close = /^!close (\d{1,5})(?: (.*))?$/s.exec(text);
    if (close) {
      try {
        this.close(Number(close[1]), close[2]);
      } catch (err) {
        this.send(`error: ${(err as Error).message}`);
      }
      return;
    }
    if (text === '!pid') {
      this.send(String(process.pid)); // which process serves this connection (--workers)
      return;
    }
    if (text === '!terminate') {
      this.terminate();
      return;
    }
  }
  this.send(data, { binary: isBinary });
}

function onSocketError(): void {
  // ws closes the connection itself; the hook records it. Nothing to add.
}

export function createEchoServer(options: EchoServerOptions): EchoServer {
  const { recorder, logger } = options;
  const server = createFrontServer(
    options.handshakeTimeoutMs,
    recorder,
    withClientReportRoutes(options.routes, (req, res) => {
      res.statusCode = req.url === '/' ? 426 : 404;
      res.setHeader('Content-Type', 'text/plain; charset=utf-8');
      res.end('ws-close-agent echo endpoint: connect with a WebSocket client. Send "!close 4000 bye" to have the server close with 4000.\n');
    }),
    options.tls,
  );

  const wss = new WebSocketServer({ noServer: true, maxPayload: options.maxPayload ?? 16 * 1024 * 1024 });
  const r = options.reconnects;
  const hook = instrument(wss, {
    recorder,
    onError: (err) => logger.error('hook error', { err }),
    ...(r && { clientKey: r.clientKey, reconnectWindowMs: r.table.windowMs, reconnectMaxKeys: r.table.maxKeys, reconnectSink: r.sink }),
  });
  wss.on('connection', (ws) => {
    (ws as EchoSocket)[kLastActivity] = performance.now();
    ws.on('message', onMessage);
    ws.on('ping', noteActivity);
    ws.on('pong', noteActivity);
    ws.on('error', onSocketError);
  });
  // What admit() does not check (e.g. a malformed Sec-WebSocket-Protocol), ws
  // refuses; with a wsClientError listener it leaves the answer to us: count and answer 400.
  wss.on('wsClientError', (err: Error, socket: Duplex) => {
    recorder.recordUpgradeFailure('bad_request');
    rejectUpgrade(socket, 400, 'Bad Request', `${err.message}\n`);
  });

  const admission = new Admission<WebSocket>(
    {
      // ws's own client set: ws drops a connection from it in the same tick as the hook records its close.
      get openCount() {
        return wss.clients.size;
      },
      // ws completes an admitted upgrade synchronously: none is ever in flight.
      pendingCount: 0,
      connections: () => liveConnections(hook),
      isIdle: (ws, now, idleMs) => (ws as EchoSocket)[kLastActivity] < now - idleMs && ws.readyState === ws.OPEN,
      goAway: (ws) => closeAsAgent(hook, ws, GOING_AWAY),
      terminate: (ws) => terminateAsAgent(hook, ws),
    },
    { server, recorder, maxConnections: options.maxConnections, idleTimeoutMs: options.idleTimeoutMs },
  );

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (admission.admit(req, socket)) wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });

  return {
    server,
    get openConnections() {
      return wss.clients.size;
    },
    drain: (timeoutMs) => admission.drain(timeoutMs),
  };
}

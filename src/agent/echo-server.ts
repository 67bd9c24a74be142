/**
 * The built-in echo endpoint served when no --upstream is given: a `ws`
 * server instrumented by the hook, so `npm start` shows the whole pipeline on
 * a fresh machine. Messages are echoed back; two text commands let a person
 * or a test make the server end the connection:
 *   "!close CODE [REASON]"  the server closes with CODE
 *   "!terminate"            the server drops the TCP connection (1006)
 *   "!pid"                  the server answers with its process id (which --workers process)
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { instrument } from '../hook/instrument.js';
import { closeAsAgent, liveConnections, openConnectionCount, terminateAsAgent } from './tracked-connections.js';
import type { CloseRecorder } from '../recorder/recorder.js';
import type { Logger } from './log.js';
import { checkInterval, onClientError, rejectUpgrade } from './http-errors.js';

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
}

export interface EchoServer {
  readonly server: Server;
  readonly openConnections: number;
  /** Stop accepting, close every connection with 1001, end the rest after timeoutMs. */
  drain(timeoutMs: number): Promise<{ drained: number; terminated: number }>;
}

const MAX_COMMAND_LENGTH = 200;

const kLastActivity = Symbol('ws-close-agent.lastActivity');
type EchoSocket = WebSocket & { [kLastActivity]: number };

function noteActivity(this: WebSocket): void {
  (this as EchoSocket)[kLastActivity] = performance.now();
}

function onMessage(this: WebSocket, data: RawData, isBinary: boolean): void {
  (this as EchoSocket)[kLastActivity] = performance.now();
  if (!isBinary && (data as Buffer).length <= MAX_COMMAND_LENGTH && (data as Buffer)[0] === 0x21 /* ! */) {
    const text = data.toString();
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
  const { recorder, logger, maxConnections, handshakeTimeoutMs } = options;
  const server = createServer({ connectionsCheckingInterval: checkInterval(handshakeTimeoutMs) }, (req, res) => {
    res.statusCode = req.url === '/' ? 426 : 404;
    res.setHeader('Content-Type', 'text/plain; charset=utf-8');
    res.end('ws-close-agent echo endpoint: connect with a WebSocket client. Send "!close 4000 bye" to have the server close with 4000.\n');
  });
  // Slow or incomplete upgrade requests are dropped by Node's header timeout.
  server.headersTimeout = handshakeTimeoutMs;
  server.requestTimeout = handshakeTimeoutMs;
  server.on('clientError', onClientError(recorder));

  const wss = new WebSocketServer({ noServer: true, maxPayload: options.maxPayload ?? 16 * 1024 * 1024 });
  const hook = instrument(wss, { recorder, onError: (err) => logger.error('hook error', { err }) });
  const openConnections = (): number => openConnectionCount(hook);
  wss.on('connection', (ws) => {
    (ws as EchoSocket)[kLastActivity] = performance.now();
    ws.on('message', onMessage);
    ws.on('ping', noteActivity);
    ws.on('pong', noteActivity);
    ws.on('error', onSocketError);
  });
  // With a wsClientError listener, ws leaves the answer to us: count and answer 400.
  wss.on('wsClientError', (err: Error, socket: Duplex) => {
    recorder.recordUpgradeFailure('bad_request');
    rejectUpgrade(socket, 400, 'Bad Request', `${err.message}\n`);
  });

  let idleTimer: NodeJS.Timeout | undefined;
  if (options.idleTimeoutMs > 0) {
    idleTimer = setInterval(() => {
      const cutoff = performance.now() - options.idleTimeoutMs;
      for (const ws of wss.clients) {
        if ((ws as EchoSocket)[kLastActivity] < cutoff && ws.readyState === ws.OPEN) closeAsAgent(hook, ws, 1001);
      }
    }, Math.max(50, Math.min(1000, options.idleTimeoutMs / 4)));
    idleTimer.unref();
  }

  let draining = false;
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (draining) return rejectUpgrade(socket, 503, 'Service Unavailable', 'draining\n');
    if (maxConnections > 0 && openConnections() >= maxConnections) {
      recorder.recordUpgradeFailure('over_capacity');
      return rejectUpgrade(socket, 503, 'Service Unavailable', 'over capacity\n');
    }
    // As the proxy does: only version 13 (ws would also take the hybi-08 draft), and
    // the answer names it (RFC 6455 §4.4), which ws's wsClientError path cannot add.
    if (req.headers['sec-websocket-version'] !== '13') {
      recorder.recordUpgradeFailure('bad_request');
      return rejectUpgrade(socket, 400, 'Bad Request', 'unsupported Sec-WebSocket-Version (13 is supported)\n', 'Sec-WebSocket-Version: 13\r\n');
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });

  const waitUntil = async (done: () => boolean, ms: number): Promise<void> => {
    const deadline = Date.now() + ms;
    while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  };

  return {
    server,
    get openConnections() {
      return openConnections();
    },
    async drain(timeoutMs) {
      draining = true;
      if (idleTimer) clearInterval(idleTimer);
      server.close();
      const open = liveConnections(hook);
      for (const ws of open) closeAsAgent(hook, ws, 1001);
      await waitUntil(() => openConnections() === 0, timeoutMs);
      const terminated = openConnections();
      for (const ws of liveConnections(hook)) terminateAsAgent(hook, ws);
      await waitUntil(() => openConnections() === 0, 1000);
      server.closeAllConnections();
      return { drained: open.length - terminated, terminated };
    },
  };
}

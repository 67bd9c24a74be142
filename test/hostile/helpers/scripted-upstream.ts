/**
 * A `ws` upstream whose behaviour the request path picks, so that one agent
 * process can face every upstream failure of a describe block:
 *
 *   /wrong-accept          101 with a Sec-WebSocket-Accept that does not match the key
 *   /status/NNN            a plain NNN answer with a body (e.g. 403, 500)
 *   /hang                  accepts the request and never answers
 *   /reset                 resets the TCP connection (RST) instead of answering
 *   /slow/MS               answers 101 after MS milliseconds
 *   /close-on-open/CODE    closes with CODE right after the 101
 *   anything else          a `ws` echo endpoint (no extensions)
 *
 * Plain (non-upgrade) requests get 426, as from a WebSocket-only server.
 * Server-side connections are kept by path so that tests act on them directly
 * (close, terminate, pause reading, reset).
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { listenLoopback } from '../../../harness/net.mjs';
import { waitFor } from '../../helpers/wait.js';

interface UpstreamConnection {
  readonly ws: WebSocket;
  readonly path: string;
  /** Bytes of message payload received. */
  received: number;
  /** Messages are not echoed while true. */
  sink: boolean;
  /** The close code the upstream's `ws` reported, once closed. */
  closeCode: number | undefined;
  readonly closed: Promise<number>;
}

export interface ScriptedUpstream {
  readonly port: number;
  readonly url: string;
  readonly server: Server;
  readonly wss: WebSocketServer;
  /** Every connection that opened, in order. */
  readonly connections: UpstreamConnection[];
  /** The path of every upgrade request that arrived, answered or not, in order. */
  readonly upgradeRequests: string[];
  /** The connection opened for `path` (waits, bounded, for it to open). */
  connection(path: string, timeoutMs?: number): Promise<UpstreamConnection>;
  /** TCP sockets open on the upstream side right now. */
  openSockets(): number;
  close(): Promise<void>;
}

const WRONG_ACCEPT = 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: bm90IHRoZSByaWdodCBrZXk=\r\n\r\n';

export async function startScriptedUpstream(): Promise<ScriptedUpstream> {
  const sockets = new Set<Socket>();
  const connections: UpstreamConnection[] = [];
  const upgradeRequests: string[] = [];
  const byPath = new Map<string, UpstreamConnection>();
  const server = createServer((_req, res) => {
    res.writeHead(426, { 'Content-Type': 'text/plain', Upgrade: 'websocket', 'X-Upstream': 'scripted' });
    res.end('Upgrade Required');
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('error', () => undefined);
    s.once('close', () => sockets.delete(s));
  });
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });

  const accept = (req: IncomingMessage, socket: Duplex, head: Buffer, then?: (ws: WebSocket) => void): void => {
    wss.handleUpgrade(req, socket, head, (ws) => {
      const path = req.url ?? '/';
      let resolveClosed!: (code: number) => void;
      const conn: UpstreamConnection = {
        ws,
        path,
        received: 0,
        sink: false,
        closeCode: undefined,
        closed: new Promise<number>((r) => (resolveClosed = r)),
      };
      connections.push(conn);
      byPath.set(path, conn);
      ws.on('error', () => undefined);
      ws.on('close', (code) => {
        conn.closeCode = code;
        resolveClosed(code);
      });
      ws.on('message', (data: Buffer, isBinary) => {
        conn.received += data.length;
        if (!conn.sink) ws.send(data, { binary: isBinary });
      });
      then?.(ws);
    });
  };

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = req.url ?? '/';
    upgradeRequests.push(path);
    socket.on('error', () => undefined);
    let m: RegExpExecArray | null;
    if (path === '/wrong-accept') {
      socket.once('end', () => socket.destroy());
      socket.write(WRONG_ACCEPT);
    } else if ((m = /^\/status\/(\d{3})$/.exec(path))) {
      const body = `refused with ${m[1]}`;
      socket.end(
        `HTTP/1.1 ${m[1]} Refused\r\nX-Upstream: scripted\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
      );
    } else if (path === '/hang') {
      // Never answer; the socket stays open until the agent gives up.
      socket.once('end', () => socket.destroy());
    } else if (path === '/reset') {
      (socket as Socket).resetAndDestroy();
    } else if ((m = /^\/slow\/(\d+)/.exec(path))) {
      setTimeout(() => accept(req, socket, head), Number(m[1]));
    } else if ((m = /^\/close-on-open\/(\d+)/.exec(path))) {
      const code = Number(m[1]);
      accept(req, socket, head, (ws) => ws.close(code, 'upstream closes at once'));
    } else {
      accept(req, socket, head);
    }
  });

  return {
    ...(await listenLoopback(server)),
    server,
    wss,
    connections,
    upgradeRequests,
    async connection(path, timeoutMs = 5000) {
      await waitFor(() => byPath.has(path), `the upstream connection for ${path}`, timeoutMs);
      return byPath.get(path) as UpstreamConnection;
    },
    openSockets: () => sockets.size,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        wss.close();
        server.close(() => resolve());
      }),
  };
}

export interface BareUpstream {
  readonly url: string;
  /** Connections that got a 101. */
  readonly accepted: () => number;
  openSockets(): number;
  close(): Promise<void>;
}

/**
 * The cheapest upstream that completes a WebSocket handshake: it answers the
 * upgrade with a correct 101 and ends the TCP connection as soon as a frame
 * arrives. For load-shaped cases where the upstream's own work would only
 * slow the test down.
 */
export async function startBareUpstream(): Promise<BareUpstream> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server = createNetServer((s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    s.on('end', () => s.end());
    let head = '';
    let open = false;
    s.on('data', (chunk: Buffer) => {
      if (open) return void s.end();
      head += chunk.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      const key = /\r\nsec-websocket-key: *(\S+)/i.exec(head)?.[1] ?? '';
      const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
      s.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
      open = true;
      accepted++;
      if (head.length > end + 4) s.end();
    });
  });
  return {
    url: (await listenLoopback(server)).url,
    accepted: () => accepted,
    openSockets: () => sockets.size,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * A `ws` server instrumented into a fresh registry with closesPage() on the
 * same HTTP server, on 127.0.0.1:0; and a small HTTP GET helper. For the
 * live-page suites.
 */
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { WebSocket, WebSocketServer } from 'ws';
import { instrument } from '../../src/hook/instrument.js';
import { closesPage, type ClosesPageOptions } from '../../src/live/closes-page.js';
import { createRecorder } from '../../src/recorder/registry.js';
import { waitFor } from './wait.js';

export type Cleanup = () => Promise<void> | void;

export interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export function get(port: number, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers, method }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (s: string) => (body += s));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

export async function listen(server: Server, cleanups: Cleanup[]): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  return (server.address() as AddressInfo).port;
}

/** A ws server instrumented into a fresh registry, and closesPage() on the same HTTP server. */
export async function startLivePage(cleanups: Cleanup[], options: Omit<ClosesPageOptions, 'recorder'> = {}) {
  const registry = new Registry();
  const recorder = createRecorder({ registry });
  const page = closesPage({ recorder, ...options });
  cleanups.push(() => page.close());
  const server = createServer((req, res) => page(req, res));
  const wss = new WebSocketServer({ server });
  const hook = instrument(wss, { recorder });
  cleanups.push(() => {
    hook.uninstall();
    for (const ws of wss.clients) ws.terminate();
    wss.close();
  });
  const serverSockets: WebSocket[] = [];
  wss.on('connection', (ws) => {
    serverSockets.push(ws);
    ws.on('error', () => undefined);
  });
  const port = await listen(server, cleanups);
  const connect = async (path: string): Promise<WebSocket> => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`);
    ws.on('error', () => undefined);
    await new Promise((r, j) => ws.once('open', r).once('error', j));
    await waitFor(() => serverSockets.length > 0 && serverSockets.at(-1)!.readyState === WebSocket.OPEN, 'the server side to open');
    return ws;
  };
  const closed = (ws: WebSocket) => new Promise((r) => (ws.readyState === WebSocket.CLOSED ? r(undefined) : ws.once('close', r)));
  return { registry, recorder, page, port, connect, closed, serverSockets };
}

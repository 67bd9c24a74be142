import type { Server } from 'node:http';
import type { WebSocketServer } from 'ws';

/** Drop every connection of `wss` and close it and its HTTP server; resolves once the server is closed. */
export function closeWsServer(server: Server, wss: WebSocketServer): Promise<void> {
  return new Promise<void>((r) => {
    for (const ws of wss.clients) ws.terminate();
    wss.close();
    server.closeAllConnections();
    server.close(() => r());
  });
}

// express + ws on one HTTP server: ws in noServer mode, upgraded by hand, and
// /metrics served by the same express app.
//   node examples/express.mjs   (after npm run build)
import { createServer } from 'node:http';
import express from 'express';
import { Registry } from 'prom-client';
import { WebSocketServer } from 'ws';
import { instrument, metricsHandler } from 'ws-close-agent';

export function createExpressApp(registry = new Registry()) {
  const app = express();
  app.get('/metrics', metricsHandler(registry));
  app.get('/', (_req, res) => res.send('WebSocket endpoint at /ws\n'));

  const server = createServer(app);
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    if (new URL(req.url ?? '/', 'http://localhost').pathname !== '/ws') {
      socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });
  const instrumentation = instrument(wss, { registry, codes: { 4001: 'AUTH_EXPIRED' } });

  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => {
      if (!isBinary && data.toString() === 'logout') ws.close(4001, 'session ended');
      else ws.send(data, { binary: isBinary });
    });
  });
  return { app, server, wss, registry, instrumentation };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { server } = createExpressApp();
  server.listen(8080, () => console.log('ws://localhost:8080/ws, metrics at http://localhost:8080/metrics'));
}

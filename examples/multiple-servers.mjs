// Several WebSocketServers on one HTTP server and one registry, told apart by
// a constant label: each connection is counted once, under its server's label.
//   node examples/multiple-servers.mjs   (after npm run build)
import { createServer } from 'node:http';
import { Registry } from 'prom-client';
import { WebSocketServer } from 'ws';
import { instrument, metricsHandler } from 'ws-close-agent';

export function createMultiServerApp(registry = new Registry()) {
  const servers = {
    chat: new WebSocketServer({ noServer: true }),
    feed: new WebSocketServer({ noServer: true }),
  };
  for (const [name, wss] of Object.entries(servers)) {
    instrument(wss, { registry, labels: { server: name } });
    wss.on('connection', (ws) => ws.on('message', (data) => ws.send(data)));
  }
  const serveMetrics = metricsHandler(registry);
  const server = createServer((req, res) => {
    if (req.url === '/metrics') return serveMetrics(req, res);
    res.statusCode = 404;
    res.end();
  });
  server.on('upgrade', (req, socket, head) => {
    const wss = servers[new URL(req.url ?? '/', 'http://localhost').pathname.slice(1)];
    if (!wss) {
      socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });
  return { server, servers, registry };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { server } = createMultiServerApp();
  server.listen(8080, () => console.log('ws://localhost:8080/chat and /feed, metrics at http://localhost:8080/metrics'));
}

// Socket.IO 4: instrumentSocketIo(io) records the close of every WebSocket
// transport connection with its code and initiator. Call it before or after
// listen(): it follows engine.io's replacement of io.engine.ws on listen.
// HTTP long-polling sessions have no WebSocket and no close code: they are
// not counted (a session that upgrades is counted from its WebSocket on).
//   node examples/socket-io.mjs   (after npm run build)
import { createServer } from 'node:http';
import { Registry } from 'prom-client';
import { Server } from 'socket.io';
import { instrumentSocketIo, metricsHandler } from 'ws-close-agent';

export function createSocketIoApp({ registry = new Registry(), ...ioOptions } = {}) {
  const serveMetrics = metricsHandler(registry);
  const server = createServer((req, res) => {
    if (req.url === '/metrics') return serveMetrics(req, res);
    res.statusCode = 404;
    res.end();
  });
  const io = new Server(server, ioOptions);
  instrumentSocketIo(io, { registry });
  io.on('connection', (socket) => {
    socket.on('echo', (message, ack) => typeof ack === 'function' && ack(message));
    socket.on('kick', () => socket.disconnect(true));
  });
  return { server, io, registry };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { server } = createSocketIoApp();
  server.listen(8080, () => console.log('Socket.IO on http://localhost:8080, metrics at http://localhost:8080/metrics'));
}

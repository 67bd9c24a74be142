// engine.io 6 on its own (the transport under Socket.IO): instrumentSocketIo()
// takes the engine.io Server too. engine.io upgrades through its ws server's
// handleUpgrade() and never emits `connection` there, so instrument(engine.ws)
// would count nothing; instrumentSocketIo(engine) sees every WebSocket.
//   node examples/engine-io.mjs   (after npm run build)
import { createServer } from 'node:http';
import { Server as EngineServer } from 'engine.io';
import { Registry } from 'prom-client';
import { instrumentSocketIo, metricsHandler } from 'ws-close-agent';

export function createEngineIoApp({ registry = new Registry(), ...engineOptions } = {}) {
  const serveMetrics = metricsHandler(registry);
  const server = createServer((req, res) => {
    if (req.url === '/metrics') return serveMetrics(req, res);
    res.statusCode = 404;
    res.end();
  });
  const engine = new EngineServer(engineOptions);
  engine.attach(server);
  instrumentSocketIo(engine, { registry });
  engine.on('connection', (socket) => {
    socket.on('message', (message) => (message === 'kick' ? socket.close() : socket.send(message)));
  });
  return { server, engine, registry };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { server } = createEngineIoApp();
  server.listen(8080, () => console.log('engine.io on http://localhost:8080/engine.io/, metrics at http://localhost:8080/metrics'));
}

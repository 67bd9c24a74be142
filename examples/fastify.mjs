// Fastify with @fastify/websocket: instrument the plugin's WebSocketServer
// (fastify.websocketServer) once the plugin is registered.
//   node examples/fastify.mjs   (after npm run build)
import websocket from '@fastify/websocket';
import Fastify from 'fastify';
import { Registry } from 'prom-client';
import { instrument, renderMetrics } from 'ws-close-agent';

export async function createFastifyApp(registry = new Registry()) {
  const app = Fastify();
  await app.register(websocket);
  const instrumentation = instrument(app.websocketServer, { registry });

  app.get('/ws', { websocket: true }, (socket) => {
    socket.on('message', (data) => {
      if (data.toString() === 'bye') socket.close(1000, 'bye');
      else socket.send(data);
    });
  });
  app.get('/metrics', async (request, reply) => {
    const { contentType, body } = await renderMetrics(registry, request.headers.accept);
    return reply.type(contentType).send(body);
  });
  return { app, registry, instrumentation };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { app } = await createFastifyApp();
  await app.listen({ port: 8080 });
  console.log('ws://localhost:8080/ws, metrics at http://localhost:8080/metrics');
}

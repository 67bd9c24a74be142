// Hono on Node with @hono/node-ws: createNodeWebSocket({ app }) returns the
// ws server it upgrades into; instrument(wss) records its connections.
//   node examples/hono.mjs   (after npm run build)
import { serve } from '@hono/node-server';
import { createNodeWebSocket } from '@hono/node-ws';
import { Hono } from 'hono';
import { Registry } from 'prom-client';
import { instrument, renderMetrics } from 'ws-close-agent';

export function createHonoApp({ registry = new Registry() } = {}) {
  const app = new Hono();
  const { injectWebSocket, upgradeWebSocket, wss } = createNodeWebSocket({ app });
  instrument(wss, { registry, codes: { 4001: 'AUTH_EXPIRED' } });
  app.get('/metrics', async (c) => {
    const { contentType, body } = await renderMetrics(registry, c.req.header('accept'));
    return c.body(body, 200, { 'Content-Type': contentType });
  });
  app.get(
    '/ws',
    upgradeWebSocket(() => ({
      onMessage(event, ws) {
        if (String(event.data) === 'logout') ws.close(4001, 'logged out');
        else ws.send(String(event.data));
      },
    })),
  );
  /** Start the server on `port` (0: any free port); resolves with the node:http server. */
  const listen = (port = 8080, hostname = '127.0.0.1') =>
    new Promise((resolve) => {
      const server = serve({ fetch: app.fetch, port, hostname }, () => resolve(server));
      injectWebSocket(server);
    });
  return { app, wss, registry, listen };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await createHonoApp().listen(8080);
  console.log('Hono on ws://localhost:8080/ws, metrics at http://localhost:8080/metrics');
}

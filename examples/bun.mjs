// Bun: Bun.serve({ websocket: bunWebSocket(handler) }) records every
// connection on the same recorder and metrics as the ws hook; /metrics is
// served from fetch() through renderMetrics(). prom-client runs on Bun as is.
//   PORT=8080 bun examples/bun.mjs   (after npm run build)
import { Registry } from 'prom-client';
import { bunWebSocket, renderMetrics } from 'ws-close-agent';

const registry = new Registry();

const server = Bun.serve({
  hostname: '127.0.0.1',
  port: Number(process.env.PORT ?? 8080),
  async fetch(req, server) {
    const { pathname } = new URL(req.url);
    if (pathname === '/metrics') {
      const { contentType, body } = await renderMetrics(registry, req.headers.get('accept') ?? undefined);
      return new Response(body, { headers: { 'Content-Type': contentType } });
    }
    if (pathname === '/ws' && server.upgrade(req)) return undefined;
    return new Response('not found', { status: 404 });
  },
  websocket: bunWebSocket(
    {
      message(ws, message) {
        const text = String(message);
        if (text === 'logout') ws.close(4001, 'logged out');
        else if (text === 'bye')
          ws.close(); // Bun sends 1000 for close() without a code
        else if (text === 'kill') ws.terminate();
        else ws.send(message);
      },
    },
    { registry, codes: { 4001: 'AUTH_EXPIRED' } },
  ),
});

console.log(JSON.stringify({ msg: 'listening', ws: `ws://127.0.0.1:${server.port}/ws`, metrics: `http://127.0.0.1:${server.port}/metrics` }));

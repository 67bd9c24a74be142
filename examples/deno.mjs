// Deno: track each socket of Deno.upgradeWebSocket() with trackWebSockets();
// the metrics are the ws hook's, on the same recorder; /metrics is served
// through renderMetrics(). prom-client runs on Deno as is.
//   PORT=8080 deno run --allow-net --allow-read --allow-env examples/deno.mjs   (after npm run build)
import { Registry } from 'prom-client';
import { renderMetrics, trackWebSockets } from 'ws-close-agent';

const registry = new Registry();
const tracker = trackWebSockets({ registry, codes: { 4001: 'AUTH_EXPIRED' } });

Deno.serve(
  {
    hostname: '127.0.0.1',
    port: Number(Deno.env.get('PORT') ?? 8080),
    onListen: ({ port }) => console.log(JSON.stringify({ msg: 'listening', ws: `ws://127.0.0.1:${port}/ws`, metrics: `http://127.0.0.1:${port}/metrics` })),
  },
  async (req) => {
    const { pathname } = new URL(req.url);
    if (pathname === '/metrics') {
      const { contentType, body } = await renderMetrics(registry, req.headers.get('accept') ?? undefined);
      return new Response(body, { headers: { 'Content-Type': contentType } });
    }
    if (pathname !== '/ws' || req.headers.get('upgrade')?.toLowerCase() !== 'websocket') return new Response('not found', { status: 404 });
    const { socket, response } = Deno.upgradeWebSocket(req);
    tracker.track(socket);
    socket.onmessage = (event) => {
      const text = String(event.data);
      if (text === 'logout') socket.close(4001, 'logged out');
      else if (text === 'bye')
        socket.close(); // an empty close frame: 1005
      else socket.send(event.data);
    };
    return response;
  },
);

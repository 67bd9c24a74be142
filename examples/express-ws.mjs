// express-ws: instrument(expressWs(app).getWss()). express-ws brings its own
// ws 7; the hook works with it as with ws 8. A WebSocket request no route
// handles is closed by express-ws without a code: recorded as 1005, server.
//   node examples/express-ws.mjs   (after npm run build)
import express from 'express';
import expressWs from 'express-ws';
import { Registry } from 'prom-client';
import { instrument, metricsHandler } from 'ws-close-agent';

export function createExpressWsApp({ registry = new Registry() } = {}) {
  const app = express();
  const { getWss } = expressWs(app);
  instrument(getWss(), { registry, codes: { 4001: 'AUTH_EXPIRED' } });
  app.get('/metrics', metricsHandler(registry));
  app.ws('/ws', (ws) => {
    ws.on('message', (data) => (String(data) === 'logout' ? ws.close(4001, 'logged out') : ws.send(data)));
  });
  return { app, registry };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { app } = createExpressWsApp();
  app.listen(8080, () => console.log('express-ws on ws://localhost:8080/ws, metrics at http://localhost:8080/metrics'));
}

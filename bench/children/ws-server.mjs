/**
 * Case 2's server: a `ws` server, bare or instrumented with the hook
 * (argv[2] = 'bare' | 'instrumented'), alone in its process so that its CPU
 * time is its own.
 */
import { Registry } from 'prom-client';
import { WebSocketServer } from 'ws';
import { instrument } from '../../dist/esm/index.js';
import { announceReady, serveRequests } from '../../harness/ipc-serve.mjs';

const mode = process.argv[2];
const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, backlog: 4096, perMessageDeflate: false });
let instrumentation;
if (mode === 'instrumented') instrumentation = instrument(wss, { registry: new Registry() });
wss.on('connection', (ws) => {
  ws.on('error', () => undefined);
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});
wss.on('listening', () => {
  serveRequests({
    totals: () => instrumentation?.recorder.totals() ?? null,
  });
  announceReady({ port: wss.address().port, mode });
});

/** The upstream of the proxy cases: a plain `ws` echo server on 127.0.0.1. */
import { WebSocketServer } from 'ws';
import { announceReady, serveRequests } from '../../harness/ipc-serve.mjs';

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, backlog: 4096, perMessageDeflate: false, clientTracking: false, maxPayload: 1 << 20 });
wss.on('connection', (ws) => {
  ws.on('error', () => undefined);
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});
wss.on('listening', () => {
  serveRequests({});
  announceReady({ port: wss.address().port });
});

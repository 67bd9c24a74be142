/**
 * The upstream of the soak: a `ws` echo server on 127.0.0.1 port 0. Text
 * commands from the client make it close the connection itself:
 *   "!close CODE"  close frame with CODE     "!close"  empty close frame (1005)
 *   "!terminate"   drop the TCP connection without a close frame (1006)
 * Anything else is echoed.
 */
import { WebSocketServer } from 'ws';
import { announceReady, serveRequests } from '../../harness/ipc-serve.mjs';

let open = 0;
let accepted = 0;
let errors = 0;

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, backlog: 4096, perMessageDeflate: false, clientTracking: false });
wss.on('connection', (ws) => {
  open++;
  accepted++;
  ws.on('error', () => errors++);
  ws.on('close', () => open--);
  ws.on('message', (data, isBinary) => {
    if (!isBinary && data.length > 0 && data[0] === 0x21 /* ! */) {
      const text = data.toString();
      if (text === '!terminate') return ws.terminate();
      if (text === '!close') return ws.close();
      const m = /^!close (\d+)$/.exec(text);
      if (m) return ws.close(Number(m[1]));
    }
    ws.send(data, { binary: isBinary });
  });
});
wss.on('listening', () => {
  serveRequests({
    stats: () => ({ open, accepted, errors }),
  });
  announceReady({ port: wss.address().port });
});

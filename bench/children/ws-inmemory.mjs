/**
 * Case 2's in-memory companion: two `ws` servers in this one process, bare
 * and instrumented, each handed connections over in-memory streams (upgrade,
 * a client close frame in, the close frame out, the end) in alternating
 * blocks. No kernel, no peer process: the per-connection CPU figures are
 * steady enough to show the hook's own cost, which the real-socket churn
 * (hundreds of µs per connection on a shared machine) buries in noise.
 */
import { Duplex } from 'node:stream';
import { Registry } from 'prom-client';
import { WebSocketServer } from 'ws';
import { instrument } from '../../dist/esm/index.js';
import { closePayload, encodeFrame } from '../../harness/frames.mjs';
import { announceReady, serveRequests } from '../../harness/ipc-serve.mjs';

/** A socket whose peer says nothing but what is pushed, and answers the server's end with its own. */
class MemorySocket extends Duplex {
  _read() {}
  _write(_chunk, _encoding, callback) {
    callback();
  }
  _final(callback) {
    callback();
    this.push(null);
  }
}

const UPGRADE = { method: 'GET', headers: { upgrade: 'websocket', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-version': '13' } };
const HEAD = Buffer.alloc(0);
const CLIENT_CLOSE = encodeFrame(0x8, closePayload(1000), { mask: Buffer.alloc(4) }); // masked with a zero key: ws skips the XOR

function createServer(hooked) {
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  const instrumentation = hooked ? instrument(wss, { registry: new Registry() }) : undefined;
  wss.on('connection', (ws) => {
    ws.on('error', () => undefined);
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  });
  return { wss, instrumentation };
}

function connectAndClose(wss) {
  return new Promise((resolve) => {
    const socket = new MemorySocket();
    wss.handleUpgrade(UPGRADE, socket, HEAD, (ws) => {
      wss.emit('connection', ws, UPGRADE);
      ws.once('close', resolve);
      socket.push(CLIENT_CLOSE);
    });
  });
}

function cpuUs() {
  const c = process.cpuUsage();
  return c.user + c.system;
}

async function block(wss, connections) {
  const t0 = cpuUs();
  for (let i = 0; i < connections; i++) await connectAndClose(wss);
  return ((cpuUs() - t0) * 1000) / connections;
}

const servers = { bare: createServer(false), hooked: createServer(true) };

serveRequests({
  /** `blocks` pairs of `connections`-connection blocks, bare and instrumented in alternating order: ns per connection of each. */
  async pairs({ blocks, connections, warmup, deadlineMs }) {
    for (let i = 0; i < warmup; i++) {
      await connectAndClose(servers.bare.wss);
      await connectAndClose(servers.hooked.wss);
    }
    const out = { bare: [], hooked: [] };
    const deadline = performance.now() + deadlineMs;
    for (let b = 0; b < blocks && (b === 0 || performance.now() < deadline); b++) {
      for (const name of b % 2 === 0 ? ['bare', 'hooked'] : ['hooked', 'bare']) out[name].push(await block(servers[name].wss, connections));
    }
    return { ...out, recorded: servers.hooked.instrumentation.recorder.totals() };
  },
});
announceReady({});

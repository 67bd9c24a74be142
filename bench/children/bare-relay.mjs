/**
 * The floor of the proxy cases: the least a Node proxy can do. A `net.Server`
 * accepts, connects to the upstream and `pipe()`s both ways; no HTTP parser,
 * no frame scanning, no recording. `noDelay` on both sockets, as nginx and
 * the agent set it. Run under the same node binary as the agent (bench
 * --node), so every proxy row also reads as "agent vs the best that Node
 * version can do". The IPC channel only announces the port and, for the
 * memory case, collects garbage before a reading (as the agent's probe does).
 */
import { connect, createServer } from 'node:net';
import { announceReady, serveRequests } from '../../harness/ipc-serve.mjs';

const upstreamPort = Number(process.argv[2]);

const server = createServer({ noDelay: true }, (client) => {
  const upstream = connect({ host: '127.0.0.1', port: upstreamPort, noDelay: true });
  client.pipe(upstream);
  upstream.pipe(client);
  // pipe() forwards the ends, not errors: a reset on one side tears down both.
  client.on('error', () => upstream.destroy());
  upstream.on('error', () => client.destroy());
});
server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, () => {
  serveRequests({
    gc() {
      globalThis.gc?.();
      globalThis.gc?.();
      return { collected: typeof globalThis.gc === 'function' };
    },
  });
  announceReady({ port: server.address().port });
});

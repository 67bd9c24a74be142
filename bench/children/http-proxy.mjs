/** The http-proxy baseline: `ws: true` in front of the echo upstream, in its own process. */
import { createServer } from 'node:http';
import httpProxy from 'http-proxy';
import { announceReady, serveRequests } from '../../harness/ipc-serve.mjs';

const upstreamPort = Number(process.argv[2]);
const proxy = httpProxy.createProxyServer({ target: `http://127.0.0.1:${upstreamPort}`, ws: true });
proxy.on('error', (_err, _req, socketOrRes) => socketOrRes?.destroy?.());
const server = createServer((req, res) => proxy.web(req, res));
server.on('upgrade', (req, socket, head) => proxy.ws(req, socket, head));
server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, () => {
  serveRequests({});
  announceReady({ port: server.address().port });
});

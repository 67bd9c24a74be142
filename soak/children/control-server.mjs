/**
 * A control for the /metrics timings: a plain node HTTP server answering a
 * fixed body of the agent's exposition size, scraped the same way right after
 * each agent scrape. Its timings are the machine's own noise floor (CPU
 * contention, steal time, the runner's event loop), not the agent's.
 */
import { createServer } from 'node:http';
import { announceReady, serveRequests } from '../../harness/ipc-serve.mjs';

let body = Buffer.from('control 1\n');
const server = createServer((_req, res) => {
  res.setHeader('Content-Type', 'text/plain; version=0.0.4; charset=utf-8');
  res.end(body);
});
server.listen(0, '127.0.0.1', () => {
  serveRequests({
    /** Serve `text` from now on. */
    setBody: ({ text }) => {
      body = Buffer.from(text);
      return { bytes: body.length };
    },
  });
  announceReady({ port: server.address().port });
});

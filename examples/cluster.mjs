// Library users running Node's cluster module themselves: every worker
// instruments its server on prom-client's global registry, and the primary
// serves the sum of all workers with prom-client's AggregatorRegistry.
//   node examples/cluster.mjs [WORKERS] [WS_PORT] [METRICS_PORT]   (after npm run build)
// Prints one JSON line with the bound ports once every worker listens.
import cluster from 'node:cluster';
import { createServer } from 'node:http';
import { AggregatorRegistry } from 'prom-client';
import { WebSocketServer } from 'ws';
import { instrument } from 'ws-close-agent';

const [workers = '2', wsPort = '0', metricsPort = '0'] = process.argv.slice(2);

// Created in every process: in the primary it collects, in each worker it
// installs prom-client's listener that answers with the worker's metrics.
const aggregator = new AggregatorRegistry();

if (cluster.isPrimary) {
  const metrics = createServer(async (_req, res) => {
    try {
      const body = await aggregator.clusterMetrics();
      res.setHeader('Content-Type', aggregator.contentType);
      res.end(body);
    } catch (err) {
      res.statusCode = 500;
      res.end(String(err));
    }
  });
  let listening = 0;
  let port;
  for (let i = 0; i < Number(workers); i++) {
    cluster.fork().on('message', (message) => {
      if (message?.listening === undefined) return;
      port = message.listening;
      if (++listening === Number(workers)) {
        metrics.listen(Number(metricsPort), '127.0.0.1', () => {
          console.log(JSON.stringify({ wsPort: port, metricsPort: metrics.address().port }));
        });
      }
    });
  }
  process.on('SIGTERM', () => {
    for (const w of Object.values(cluster.workers)) w.kill();
    metrics.close(() => process.exit(0));
  });
} else {
  const server = createServer();
  const wss = new WebSocketServer({ server });
  instrument(wss); // prom-client's global registry, which AggregatorRegistry collects from workers
  wss.on('connection', (ws) => {
    ws.on('message', (data) => ws.send(data.toString() === 'pid' ? String(process.pid) : data));
  });
  server.listen(Number(wsPort), '127.0.0.1', () => process.send({ listening: server.address().port }));
}

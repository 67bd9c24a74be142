/**
 * Case 3: GET /metrics over HTTP (keep-alive, 127.0.0.1) with 100, 1,000 and
 * 2,000 close series plus the duration histogram: our recorder behind
 * metricsHandler() vs the same series in idiomatic prom-client metrics
 * behind the usual `res.end(await registry.metrics())` handler. The text
 * format is what curl and most scrapers get; OpenMetrics is what Prometheus
 * asks for, so the 2,000-series size runs in both.
 */
import { Agent, createServer, request } from 'node:http';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { metricsHandler } from '../../dist/esm/index.js';
import { classify } from '../../dist/esm/codes/close-codes.js';
import { createRecorder } from '../../dist/esm/recorder/registry.js';
import { DURATION_BUCKETS_SECONDS, INITIATORS, metricNames } from '../../dist/esm/codes/vocabulary.js';
import { compareRow } from '../lib/rows.mjs';
import { runInterleaved } from '../lib/rounds.mjs';
import { median } from '../../harness/stats.mjs';

export const id = 3;
export const title = 'scrape /metrics';

const PROMETHEUS_ACCEPT =
  'application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2';

/** `series` close series: codes 1000-1015 then 3000.., four initiators each, with the closes that made them. */
function buildCloses(series) {
  const codes = [];
  for (let c = 1000; c <= 1015; c++) codes.push(c);
  for (let c = 3000; codes.length * 4 < series; c++) codes.push(c);
  const closes = [];
  let seed = 7;
  const rand = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
  for (let k = 0; k < series; k++) {
    const times = 1 + Math.floor(rand() * 3);
    for (let t = 0; t < times; t++) closes.push({ code: codes[k >> 2], initiator: k & 3, duration: 10 ** (-1 + rand() * 5) });
  }
  return { closes, customCodes: codes.length - 16 };
}

function buildOurs({ closes, customCodes }) {
  const registry = new Registry();
  const recorder = createRecorder({ registry, maxCustomCodes: Math.max(100, customCodes) });
  for (const c of closes) {
    recorder.recordOpen();
    recorder.recordClose(c.code, c.initiator, c.duration);
  }
  return metricsHandler(registry);
}

function buildPromClient({ closes }, contentType) {
  const registry = new Registry(contentType);
  const registers = [registry];
  const n = metricNames('websocket_');
  const opened = new Counter({ name: n.openedTotal, help: 'WebSocket connections that completed the opening handshake.', registers });
  new Gauge({ name: n.active, help: 'WebSocket connections currently open.', registers });
  const closed = new Counter({
    name: n.closedTotal,
    help: 'WebSocket connections closed.',
    labelNames: ['code', 'codename', 'category', 'initiator'],
    registers,
  });
  const duration = new Histogram({
    name: n.durationSeconds,
    help: 'WebSocket connection lifetime.',
    labelNames: ['codename'],
    buckets: [...DURATION_BUCKETS_SECONDS],
    registers,
  });
  new Counter({ name: n.upgradeFailuresTotal, help: 'Upgrades that failed.', labelNames: ['reason'], registers });
  new Counter({ name: n.protocolViolationsTotal, help: 'Protocol violations.', labelNames: ['side', 'kind'], registers });
  for (const c of closes) {
    const cl = classify(c.code);
    opened.inc();
    closed.inc({ code: String(c.code), codename: cl.codename, category: cl.category, initiator: INITIATORS[c.initiator] });
    duration.observe({ codename: cl.codename }, c.duration);
  }
  return (_req, res) => {
    registry.metrics().then((body) => {
      res.setHeader('Content-Type', registry.contentType);
      res.end(body);
    });
  };
}

function listen(handler) {
  return new Promise((resolve) => {
    const server = createServer(handler);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

function scrapeOnce(agent, port, accept) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = request({ agent, host: '127.0.0.1', port, path: '/metrics', headers: accept ? { accept } : {} }, (res) => {
      let bytes = 0;
      res.on('data', (d) => (bytes += d.length));
      res.on('end', () => (res.statusCode === 200 ? resolve({ ms: performance.now() - t0, bytes }) : reject(new Error(`HTTP ${res.statusCode}`))));
    });
    req.setTimeout(10_000, () => req.destroy(new Error('scrape timeout')));
    req.on('error', reject);
    req.end();
  });
}

export async function run(ctx) {
  const s = ctx.quick ? { rounds: 5, scrapes: 15 } : { rounds: 11, scrapes: 30 };
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const sizes = [
    { series: 100, format: 'text' },
    { series: 1000, format: 'text' },
    { series: 2000, format: 'text' },
    { series: 2000, format: 'OpenMetrics' },
  ];
  const rows = [];
  const servers = [];
  try {
    for (const [k, { series, format }] of sizes.entries()) {
      const data = buildCloses(series);
      const om = format === 'OpenMetrics';
      const ours = await listen(buildOurs(data));
      const prom = await listen(buildPromClient(data, om ? Registry.OPENMETRICS_CONTENT_TYPE : Registry.PROMETHEUS_CONTENT_TYPE));
      servers.push(ours, prom);
      const accept = om ? PROMETHEUS_ACCEPT : undefined;
      const bytes = {};
      const variant = (name, server) => ({
        name,
        run: async () => {
          const times = [];
          for (let i = 0; i < s.scrapes; i++) {
            const r = await scrapeOnce(agent, server.address().port, accept);
            times.push(r.ms);
            bytes[name] = r.bytes;
          }
          return median(times);
        },
      });
      const variants = [variant('ours', ours), variant('prom-client', prom)];
      for (const v of variants) await v.run(); // warm up both
      const deadline = performance.now() + (ctx.deadline - performance.now()) / (sizes.length - k);
      const { samples } = await runInterleaved(variants, { rounds: s.rounds, deadline });
      const atTarget = series === 2000;
      rows.push(
        compareRow({
          caseId: id,
          name: `scrape: ${series.toLocaleString('en-US')} close series + histogram, ${format}`,
          unit: 'ms',
          oursLabel: 'ours',
          baselineLabel: 'prom-client',
          ours: samples.ours,
          baseline: samples['prom-client'],
          target: atTarget ? '≤ 3 ms and ratio ≤ 0.33' : '(info)',
          check: atTarget ? ({ ours, ratio }) => ours <= 3 && ratio <= 1 / 3 : undefined,
          note: `body ${bytes.ours} B ours, ${bytes['prom-client']} B prom-client; median of ${s.scrapes} scrapes per round`,
        }),
      );
    }
  } finally {
    agent.destroy();
    for (const server of servers) server.close();
  }
  return rows;
}

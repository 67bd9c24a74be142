/**
 * Reading the agent from outside: /metrics over one keep-alive connection
 * (every scrape timed, one at a time), the Prometheus text parsed back into
 * numbers, and the process's descriptors and RSS from /proc.
 */
import { fdCount, portOf, rssBytes } from '../../scripts/lib/proc-fs.mjs';
import { Agent, request } from 'node:http';

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parseExposition(text) {
  const samples = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (!m) throw new Error(`unparseable exposition line: ${line}`);
    const labels = {};
    for (const l of (m[2] ?? '').matchAll(LABEL)) labels[l[1]] = l[2].replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
    samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return samples;
}

function sumOf(samples, name) {
  let total = 0;
  for (const s of samples) if (s.name === name) total += s.value;
  return total;
}

/** The figures of one scrape. `closes`: non-zero closed-total series as "code codename category initiator" -> count. */
export function metricsFigures(samples) {
  const closes = {};
  const violations = {};
  const failures = {};
  for (const s of samples) {
    if (s.value === 0) continue;
    if (s.name === 'websocket_connections_closed_total') {
      const key = `${s.labels.code} ${s.labels.codename} ${s.labels.category} ${s.labels.initiator}`;
      closes[key] = (closes[key] ?? 0) + s.value;
    } else if (s.name === 'websocket_protocol_violations_total') violations[`${s.labels.side} ${s.labels.kind}`] = s.value;
    else if (s.name === 'websocket_upgrade_failures_total') failures[s.labels.reason] = s.value;
  }
  return {
    opened: sumOf(samples, 'websocket_connections_opened_total'),
    closed: sumOf(samples, 'websocket_connections_closed_total'),
    active: sumOf(samples, 'websocket_connections_active'),
    heapUsed: sumOf(samples, 'nodejs_heap_size_used_bytes'),
    closes,
    violations,
    failures,
  };
}

/**
 * A serial scraper of http://HOST:PORT/metrics: one keep-alive connection,
 * one request at a time (`exclusive` runs other work, e.g. a GC probe, in
 * between), every answer timed from request to last byte and kept in
 * `latencies`.
 */
export function createScraper(metricsListen, { timeoutMs = 5000, parse = true } = {}) {
  const [host, port] = [metricsListen.slice(0, metricsListen.lastIndexOf(':')), Number(metricsListen.slice(metricsListen.lastIndexOf(':') + 1))];
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const latencies = [];
  const failures = [];
  let queue = Promise.resolve();

  const once = () =>
    new Promise((resolve, reject) => {
      const t0 = performance.now();
      const req = request({ host, port, path: '/metrics', agent, timeout: timeoutMs }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const ms = performance.now() - t0;
          if (res.statusCode !== 200) return reject(new Error(`/metrics answered ${res.statusCode}`));
          resolve({ ms, text: Buffer.concat(chunks).toString('utf8') });
        });
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`/metrics: no answer within ${timeoutMs} ms`)));
      req.on('error', reject);
      req.end();
    });

  const scrapeNow = async () => {
    try {
      const { ms, text } = await once();
      latencies.push(ms);
      return parse ? { ms, at: Date.now(), text, ...metricsFigures(parseExposition(text)) } : { ms, at: Date.now(), text };
    } catch (err) {
      failures.push(err.message);
      throw err;
    }
  };

  /** Runs `fn` when no scrape or other exclusive work is in flight (nothing else is timed meanwhile). */
  const exclusive = (fn) => {
    const run = queue.then(fn, fn);
    queue = run.catch(() => undefined);
    return run;
  };

  return {
    latencies,
    failures,
    exclusive,
    /** One timed scrape now, without waiting for the exclusive section (call it inside one). */
    scrapeNow,
    /** One timed scrape: { ms, at, text, ...metricsFigures }, in turn with other exclusive work. Failures are kept and rethrown. */
    scrape: () => exclusive(scrapeNow),
    close: () => agent.destroy(),
  };
}

export { fdCount, portOf, rssBytes };

/** Percentile p (0-100) of the values, by linear interpolation between ranks. */
export function percentile(values, p) {
  if (values.length === 0) return NaN;
  const sorted = Float64Array.from(values).sort();
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo);
}

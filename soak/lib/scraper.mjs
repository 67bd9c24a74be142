/**
 * /metrics of the agent over one keep-alive connection, one request at a
 * time, every answer timed from the request to its last byte and read back
 * into numbers (harness/exposition.mjs).
 */
import { Agent, request } from 'node:http';
import { metricsFigures, parseExposition } from '../../harness/exposition.mjs';

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

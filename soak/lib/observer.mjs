/**
 * Watching the agent for the whole run: /metrics scraped every
 * --scrape-interval-ms (and a static control server at the same moments),
 * every answer timed and checked (opened = closed + active, counters never
 * going down), plus its descriptors, RSS and heap after a GC on request.
 */
import { sleep } from '../../harness/wait.mjs';
import { fdCount, portOf, rssBytes } from '../../harness/proc.mjs';
import { percentile } from '../../harness/stats.mjs';
import { mib, ms2 } from './report.mjs';
import { createScraper } from './scraper.mjs';

export function createObserver(run) {
  const { opts, deadline, procs } = run;
  const { agent, control } = procs;
  const metricsPort = portOf(agent.metricsListen);
  const scraper = createScraper(agent.metricsListen);
  const controlScraper = createScraper(`127.0.0.1:${control.info.port}`, { parse: false });
  const state = { last: undefined, peakActive: 0, peakRss: 0, inconsistent: [], nonMonotonic: [], count: 0 };
  const slowScrapes = [];

  const observe = (s) => {
    state.count++;
    if (s.opened !== s.closed + s.active && state.inconsistent.length < 20) state.inconsistent.push({ opened: s.opened, closed: s.closed, active: s.active });
    const prev = state.last;
    if (prev && (s.opened < prev.opened || s.closed < prev.closed) && state.nonMonotonic.length < 20)
      state.nonMonotonic.push({ before: [prev.opened, prev.closed], after: [s.opened, s.closed] });
    state.last = s;
    state.peakActive = Math.max(state.peakActive, s.active);
  };

  /** One scrape, observed; `now` skips the queue (inside an exclusive section). */
  const scrape = async (now = false) => {
    const s = await (now ? scraper.scrapeNow() : scraper.scrape());
    observe(s);
    if (s.ms > opts.scrapeLimitMs && slowScrapes.length < 50)
      slowScrapes.push({ atS: Math.round(deadline.elapsed() * 10) / 10, phase: run.phase, ms: ms2(s.ms), active: s.active });
    return s;
  };
  const sampleRss = () => {
    const rss = rssBytes(agent.pid);
    state.peakRss = Math.max(state.peakRss, rss);
    return rss;
  };

  // Scrape every interval until stopped; the control at the same moment, so that both see the same machine.
  let scraping = true;
  const loop = (async () => {
    while (scraping && deadline.remaining() > -30_000) {
      const t = Date.now();
      await scraper.exclusive(() =>
        Promise.all([
          scrape(true).then(sampleRss, () => undefined), // failures are kept in scraper.failures
          controlScraper.scrapeNow().catch(() => undefined),
        ]),
      );
      await sleep(Math.max(0, opts.scrapeIntervalMs - (Date.now() - t)));
    }
  })();

  const latencySoFar = () =>
    `scrapes ${scraper.latencies.length} p99 ${ms2(percentile(scraper.latencies, 99))} ms max ${ms2(Math.max(...scraper.latencies))} ms`;
  const ticker = setInterval(
    () => {
      const s = state.last;
      const p = run.progress;
      const rate = p.seconds > 0 ? Math.round(p.completed / p.seconds) : 0;
      run.log(
        `${run.phase}: churned ${p.completed}/${opts.churn} (${rate}/s wall), active ${s?.active ?? '?'}, ${latencySoFar()}, RSS ${mib(state.peakRss)} MiB peak`,
      );
    },
    opts.quick ? 5000 : 15_000,
  );

  return {
    state,
    scraper,
    scrape,
    /** The agent's descriptors without the scraper's connection (blocks for a moment: never while a scrape is timed). */
    fds: () => scraper.exclusive(() => fdCount(agent.pid, metricsPort)),
    /** GC in the agent (via the probe), then one scrape: the heap from /metrics, RSS from /proc. */
    async memory() {
      await scraper.exclusive(() => agent.gc());
      const s = await scrape();
      return { heapUsed: s.heapUsed, rss: sampleRss(), scrape: s };
    },
    /** Serve the agent's exposition from the control server, so that both answers are the same size. */
    async calibrateControl() {
      const first = await scrape();
      await control.request('setBody', { text: first.text }, 5000);
    },
    /** Latency figures of every /metrics answer so far, and of the control's. */
    figures() {
      const lat = scraper.latencies;
      const ctl = controlScraper.latencies;
      return {
        count: lat.length,
        intervalMs: opts.scrapeIntervalMs,
        p50Ms: ms2(percentile(lat, 50)),
        p99Ms: ms2(percentile(lat, 99)),
        maxMs: ms2(Math.max(...lat)),
        over: lat.filter((x) => x > opts.scrapeLimitMs).length,
        limitMs: opts.scrapeLimitMs,
        failures: scraper.failures.slice(0, 10),
        slow: slowScrapes,
        control: {
          what: 'a static node HTTP server answering the same body, scraped at the same moments as the periodic agent scrapes: the noise floor of the machine',
          count: ctl.length,
          p50Ms: ms2(percentile(ctl, 50)),
          p99Ms: ms2(percentile(ctl, 99)),
          maxMs: ms2(Math.max(...ctl)),
          over: ctl.filter((x) => x > opts.scrapeLimitMs).length,
        },
      };
    },
    /** Stop the periodic scrapes (waits for the one in flight). */
    async stop() {
      scraping = false;
      clearInterval(ticker);
      await loop;
    },
    close() {
      scraping = false;
      clearInterval(ticker);
      scraper.close();
      controlScraper.close();
    },
  };
}

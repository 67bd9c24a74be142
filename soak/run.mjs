/**
 * Load and soak of the real agent: `npm run soak` (build, then the full run)
 * or, after a build,
 *   node soak/run.mjs [--quick] [--connections N] [--churn N] [--seconds N] ...
 *
 * On 127.0.0.1 port 0 it starts a `ws` upstream, the agent (dist/) in front
 * of it and a load client, each in its own process under a raised
 * `ulimit -n`. It then holds `--connections` connections open through the
 * agent, churns `--churn` more through it with mixed close codes (client and
 * upstream closes with codes, empty closes, terminations both ways) while the
 * held ones stay open, and finally closes the held ones with mixed codes too.
 * Throughout, /metrics is scraped every 200 ms and timed. At checkpoints
 * (after the first 10,000 churned, then every tenth of the churn) new
 * connections wait for those in flight, and the agent's counters are compared
 * exactly with the model, its heap read after a GC, its RSS and descriptors
 * read from /proc. The summary is printed and written as JSON to
 * soak/results/latest.json (or --out); the exit code is 0 only when every
 * check passed. Every loop is bounded in count and by the --seconds deadline.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createScraper, fdCount, percentile, portOf, rssBytes } from './lib/agent-state.mjs';
import { AGENT_MAIN, LOAD_NICE, WANTED_NOFILE, killAllChildren, openFilesLimit, startAgent, startChild, waitForExit, withTimeout } from './lib/procs.mjs';
import { addCounts, diffCounts, MIX, NAMED_CODE_FLAG } from './lib/scenarios.mjs';

const DEFAULT_OUT = fileURLToPath(new URL('./results/latest.json', import.meta.url));

const FULL = { connections: 5000, churn: 200_000, seconds: 600, concurrency: 64 };
const QUICK = { connections: 500, churn: 5000, seconds: 60, concurrency: 32 };

const USAGE = `usage: node soak/run.mjs [options]        (npm run soak = build + full run)
  --quick                    small run for CI: ${QUICK.connections} held, ${QUICK.churn} churned, --seconds ${QUICK.seconds}
  --connections N            connections held open through the agent (default ${FULL.connections})
  --churn N                  connections churned while they are held (default ${FULL.churn.toLocaleString('en-US')})
  --seconds N                hard deadline for the whole run; past it the run fails (default ${FULL.seconds})
  --concurrency N            churn loops in the load client (default ${FULL.concurrency}; quick ${QUICK.concurrency})
  --open-concurrency N       handshakes (closes, echoes) in flight for the held connections (default: --concurrency)
  --scrape-interval-ms N     /metrics scrape period (default 200)
  --scrape-limit-ms N        the p99 of /metrics answers must be at most this (default 50)
  --heap-limit-pct N         agent heap (after GC) at the end of the churn vs after the first checkpoint (default 10)
  --rss-limit-pct N          agent RSS, the same comparison (default 10)
  --first-checkpoint N       churned connections at the first memory checkpoint (default 10000, at most churn/10)
  --checkpoints N            checkpoints over the churn (default 10)
  --load-nice N              niceness of the load client and the upstream, so that they do not take the
                             agent's CPU (default ${LOAD_NICE}; 0 = same priority as the agent)
  --out PATH                 where the JSON summary goes (default soak/results/latest.json)`;

function parseFlags(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      connections: { type: 'string' },
      churn: { type: 'string' },
      seconds: { type: 'string' },
      concurrency: { type: 'string' },
      'open-concurrency': { type: 'string' },
      'scrape-interval-ms': { type: 'string' },
      'scrape-limit-ms': { type: 'string' },
      'heap-limit-pct': { type: 'string' },
      'rss-limit-pct': { type: 'string' },
      'first-checkpoint': { type: 'string' },
      checkpoints: { type: 'string' },
      'load-nice': { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const base = values.quick ? QUICK : FULL;
  const num = (name, fallback, min = 0) => {
    const raw = values[name];
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min) {
      process.stderr.write(`soak: --${name} must be a number >= ${min} (got ${raw})\n${USAGE}\n`);
      process.exit(2);
    }
    return n;
  };
  const churn = Math.floor(num('churn', base.churn, 1));
  return {
    quick: values.quick,
    connections: Math.floor(num('connections', base.connections, 0)),
    churn,
    seconds: num('seconds', base.seconds, 5),
    concurrency: Math.floor(num('concurrency', base.concurrency, 1)),
    openConcurrency: Math.floor(num('open-concurrency', num('concurrency', base.concurrency, 1), 1)),
    scrapeIntervalMs: num('scrape-interval-ms', 200, 10),
    scrapeLimitMs: num('scrape-limit-ms', 50, 1),
    heapLimitPct: num('heap-limit-pct', 10),
    rssLimitPct: num('rss-limit-pct', 10),
    firstCheckpoint: Math.max(1, Math.min(Math.floor(num('first-checkpoint', 10_000, 1)), Math.floor(churn / 10))),
    checkpoints: Math.floor(num('checkpoints', 10, 1)),
    loadNice: Math.min(19, Math.floor(num('load-nice', LOAD_NICE))),
    out: resolve(values.out ?? DEFAULT_OUT),
  };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const MiB = 1024 * 1024;
const mib = (bytes) => (Number.isFinite(bytes) ? Math.round((bytes / MiB) * 10) / 10 : null);
const ms2 = (x) => (Number.isFinite(x) ? Math.round(x * 100) / 100 : null);

/** Churned counts at which the churn pauses for a measurement: the first, then every 1/n of the churn. */
function checkpointList(opts) {
  const points = new Set([opts.firstCheckpoint]);
  for (let j = 1; j < opts.checkpoints; j++) {
    const at = Math.round((opts.churn * j) / opts.checkpoints);
    if (at > opts.firstCheckpoint && at < opts.churn) points.add(at);
  }
  return [...points].filter((p) => p < opts.churn).sort((a, b) => a - b);
}

class Deadline {
  constructor(seconds) {
    this.start = Date.now();
    this.end = this.start + seconds * 1000;
    this.seconds = seconds;
  }
  remaining() {
    return this.end - Date.now();
  }
  elapsed() {
    return (Date.now() - this.start) / 1000;
  }
  /** Throws a clear failure when the deadline has passed. */
  check(what) {
    if (this.remaining() <= 0) throw new Error(`deadline: the run passed its --seconds ${this.seconds} limit during ${what} (${this.elapsed().toFixed(0)} s elapsed)`);
  }
}

/** Poll `check` (async) until it returns true, at most `timeoutMs`; returns whether it did. */
async function pollUntil(check, timeoutMs, intervalMs = 50) {
  const end = Date.now() + Math.max(0, timeoutMs);
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= end) return false;
    await sleep(intervalMs);
  }
}

function emptyResult(opts, deadline) {
  return {
    startedAt: new Date(deadline.start).toISOString(),
    command: `node soak/run.mjs ${process.argv.slice(2).join(' ')}`.trim(),
    options: { ...opts, out: undefined },
    machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, node: process.version, loadavgAtStart: loadavg().map((x) => Math.round(x * 100) / 100) },
    figures: {},
    checkpoints: [],
    checks: [],
    ok: false,
  };
}

/** The soak; fills `result` as it goes (a failure leaves what was measured so far). */
async function run(opts, deadline, result) {
  const checks = result.checks;
  /** A check; `enforced: false` reports it without failing the run. */
  const check = (name, ok, detail, { enforced = true } = {}) => {
    checks.push(enforced ? { name, ok: Boolean(ok), detail } : { name, ok: Boolean(ok), enforced: false, detail });
    return ok;
  };
  const log = (msg) => process.stdout.write(`[soak ${deadline.elapsed().toFixed(0).padStart(4)}s] ${msg}\n`);

  if (!existsSync(AGENT_MAIN)) throw new Error(`${AGENT_MAIN} is missing: run npm run build first`);
  // Leave time at the end to release the held connections, settle and stop the agent.
  const reserveMs = Math.min(45, Math.max(10, opts.seconds * 0.25)) * 1000;

  // Processes.
  let progress = { started: 0, completed: 0, inFlight: 0, seconds: 0 };
  let onCheckpoint = () => undefined;
  const upstream = await startChild('upstream.mjs', { nice: opts.loadNice });
  const control = await startChild('control-server.mjs');
  const client = await startChild('load-client.mjs', {
    nice: opts.loadNice,
    onEvent: (name, data) => {
      if (name === 'progress') progress = data;
      if (name === 'checkpoint') onCheckpoint(data);
    },
  });
  const maxConnections = Math.max(10_000, opts.connections + 2 * opts.concurrency + 100);
  const agent = await startAgent({
    upstream: `ws://127.0.0.1:${upstream.info.port}`,
    extraArgs: ['--codes', NAMED_CODE_FLAG, '--max-connections', String(maxConnections), '--drain-timeout', '5s'],
  });
  const pid = agent.pid;
  const metricsPort = portOf(agent.metricsListen);
  log(`agent pid ${pid} on ${agent.listen} (metrics ${agent.metricsListen}), upstream 127.0.0.1:${upstream.info.port}, load client pid ${client.pid}`);

  // Descriptor limits: the agent holds two sockets per connection, the client and the upstream one.
  const need = { agent: 2 * (opts.connections + opts.concurrency) + 200, client: opts.connections + opts.concurrency + 100, upstream: opts.connections + opts.concurrency + 100 };
  const limits = { agent: openFilesLimit(pid), client: openFilesLimit(client.pid), upstream: openFilesLimit(upstream.pid) };
  result.figures.openFilesLimit = { wanted: WANTED_NOFILE, ...limits, needed: need };
  const limitsOk = Object.keys(need).every((k) => limits[k] >= need[k]);
  if (!check('descriptor limits (ulimit -n) cover the load', limitsOk, { limits, need })) {
    throw new Error(`ulimit -n too low for ${opts.connections} held connections: ${JSON.stringify({ limits, need })} (the hard limit caps it; lower --connections)`);
  }

  const scraper = createScraper(agent.metricsListen);
  const controlScraper = createScraper(`127.0.0.1:${control.info.port}`, { parse: false });
  const scrapeState = { last: undefined, peakActive: 0, peakRss: 0, inconsistent: [], nonMonotonic: [], count: 0 };
  const observe = (s) => {
    scrapeState.count++;
    if (s.opened !== s.closed + s.active && scrapeState.inconsistent.length < 20) scrapeState.inconsistent.push({ opened: s.opened, closed: s.closed, active: s.active });
    const prev = scrapeState.last;
    if (prev && (s.opened < prev.opened || s.closed < prev.closed) && scrapeState.nonMonotonic.length < 20) scrapeState.nonMonotonic.push({ before: [prev.opened, prev.closed], after: [s.opened, s.closed] });
    scrapeState.last = s;
    scrapeState.peakActive = Math.max(scrapeState.peakActive, s.active);
  };
  let phase = 'start';
  const slowScrapes = [];
  const scrape = async (now = false) => {
    const s = await (now ? scraper.scrapeNow() : scraper.scrape());
    observe(s);
    if (s.ms > opts.scrapeLimitMs && slowScrapes.length < 50) slowScrapes.push({ atS: Math.round(deadline.elapsed() * 10) / 10, phase, ms: ms2(s.ms), active: s.active });
    return s;
  };
  /** The agent's descriptors (blocks this process for a moment: never while a scrape is being timed). */
  const agentFds = () => scraper.exclusive(() => fdCount(pid, metricsPort));
  const sampleRss = () => {
    const rss = rssBytes(pid);
    scrapeState.peakRss = Math.max(scrapeState.peakRss, rss);
    return rss;
  };

  /** GC in the agent (via the probe), then one scrape: the heap from /metrics, RSS from /proc. */
  const measureMemory = () =>
    scraper.exclusive(async () => {
      const answered = agent.waitForStderrLine((line) => (line.startsWith('{"soakProbe"') ? JSON.parse(line) : undefined), 10_000);
      process.kill(pid, 'SIGUSR2');
      await answered;
      return undefined;
    }).then(async () => {
      const s = await scrape();
      return { heapUsed: s.heapUsed, rss: sampleRss(), scrape: s };
    });

  // Baseline: the agent has served a scrape and nothing else.
  const firstScrape = await scrape();
  await control.request('setBody', { text: firstScrape.text }, 5000);
  await sleep(50);
  const fdsBefore = await agentFds();
  const memStart = await measureMemory();
  log(`baseline: ${fdsBefore} descriptors, RSS ${mib(memStart.rss)} MiB, heap ${mib(memStart.heapUsed)} MiB (after GC); fd limits ${JSON.stringify(limits)}`);

  /** Latency figures of every /metrics answer so far, and of the control's. */
  const scrapeFigures = () => {
    const lat = scraper.latencies;
    const ctl = controlScraper.latencies;
    result.figures.scrape = {
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
  };

  // Scrape every interval until the end.
  let scraping = true;
  const scrapeLoop = (async () => {
    while (scraping && deadline.remaining() > -30_000) {
      const t = Date.now();
      // The control is scraped at the same moment, so that both see the same machine.
      await scraper.exclusive(() =>
        Promise.all([
          scrape(true).then(sampleRss, () => undefined), // failures are kept in scraper.failures
          controlScraper.scrapeNow().catch(() => undefined),
        ]),
      );
      await sleep(Math.max(0, opts.scrapeIntervalMs - (Date.now() - t)));
    }
  })();
  const latencySoFar = () => `scrapes ${scraper.latencies.length} p99 ${ms2(percentile(scraper.latencies, 99))} ms max ${ms2(Math.max(...scraper.latencies))} ms`;
  const ticker = setInterval(() => {
    const s = scrapeState.last;
    const rate = progress.seconds > 0 ? Math.round(progress.completed / progress.seconds) : 0;
    log(`${phase}: churned ${progress.completed}/${opts.churn} (${rate}/s wall), active ${s?.active ?? '?'}, ${latencySoFar()}, RSS ${mib(scrapeState.peakRss)} MiB peak`);
  }, opts.quick ? 5000 : 15_000);

  try {
    // 1. Hold.
    phase = 'hold';
    log(`opening ${opts.connections} connections (${opts.openConcurrency} handshakes at a time) and holding them`);
    const hold = await client.request('hold', { url: agent.url, count: opts.connections, concurrency: opts.openConcurrency, startIndex: 0, deadlineMs: deadline.remaining() - reserveMs }, deadline.remaining());
    result.figures.hold = { opened: hold.opened, seconds: Math.round(hold.seconds * 10) / 10, openErrors: hold.openErrors, problems: hold.problems };
    check(`all ${opts.connections} held connections opened`, hold.opened === opts.connections && hold.held === opts.connections && hold.openErrors.count === 0 && hold.problems.count === 0, result.figures.hold);
    if (hold.deadlineHit) throw new Error(`deadline: only ${hold.attempted} of ${opts.connections} held connections opened before the churn's share of --seconds ${opts.seconds} ran out`);
    const heldActive = await pollUntil(async () => (await scrape()).active === hold.opened, Math.min(10_000, deadline.remaining()));
    await sleep(50);
    const fdsHeld = await agentFds();
    const memHeld = await measureMemory();
    const pingAfterHold = await client.request('pingHeld', { concurrency: opts.openConcurrency }, Math.max(1000, deadline.remaining()));
    check('held connections all echo after the hold', heldActive && pingAfterHold.alive === hold.opened && pingAfterHold.problems.count === 0, { active: scrapeState.last.active, alive: pingAfterHold.alive, problems: pingAfterHold.problems });
    log(`holding ${hold.opened} (opened in ${hold.seconds.toFixed(1)} s): ${fdsHeld} descriptors, RSS ${mib(memHeld.rss)} MiB, heap ${mib(memHeld.heapUsed)} MiB; all echo`);
    deadline.check('the hold');

    // 2. Churn with checkpoints.
    phase = 'churn';
    const points = checkpointList(opts);
    const churnTallies = {};
    /** Wait until the agent has recorded every churned close so far, then measure and compare. */
    const measureCheckpoint = async (completed, tallies, label) => {
      phase = `checkpoint ${label}`;
      const expectedClosed = Object.values(tallies).reduce((a, b) => a + b, 0);
      let s;
      const settled = await pollUntil(async () => {
        s = await scrape();
        return s.closed >= expectedClosed && s.active === hold.opened;
      }, Math.min(10_000, Math.max(0, deadline.remaining())));
      await sleep(30);
      const fds = await agentFds();
      const mem = await measureMemory();
      s = mem.scrape;
      const diff = diffCounts(tallies, s.closes);
      const cp = {
        label,
        churned: completed,
        closesExact: settled && Object.keys(diff).length === 0 && s.closed === expectedClosed && s.active === hold.opened,
        diff,
        opened: s.opened,
        closed: s.closed,
        active: s.active,
        heapMiB: mib(mem.heapUsed),
        rssMiB: mib(mem.rss),
        fds,
        elapsedS: Math.round(deadline.elapsed()),
      };
      result.checkpoints.push(cp);
      phase = 'churn';
      log(`checkpoint ${label}: churned ${completed}, closes ${cp.closesExact ? 'exact' : `DIFFER ${JSON.stringify(diff).slice(0, 300)}`}, active ${s.active}, heap ${cp.heapMiB} MiB, RSS ${cp.rssMiB} MiB, fds ${fds}`);
      return cp;
    };
    let checkpointWork = Promise.resolve();
    const checkpointErrors = [];
    onCheckpoint = (data) => {
      checkpointWork = checkpointWork.then(async () => {
        try {
          await measureCheckpoint(data.completed, data.tallies, `${data.at}`);
        } catch (err) {
          checkpointErrors.push(`checkpoint ${data.at}: ${err.message}`);
        } finally {
          await client.request('resume', {}, 10_000).catch((err) => checkpointErrors.push(`resume after ${data.at}: ${err.message}`));
        }
      });
    };
    log(`churning ${opts.churn} connections (${opts.concurrency} at a time; checkpoints at ${points.join(', ')})`);
    const churnDeadlineMs = deadline.remaining() - reserveMs;
    const churn = await client.request(
      'churn',
      { url: agent.url, count: opts.churn, concurrency: opts.concurrency, startIndex: opts.connections, checkpoints: points, deadlineMs: churnDeadlineMs, progressMs: 1000 },
      churnDeadlineMs + 60_000,
    );
    await checkpointWork;
    addCounts(churnTallies, churn.tallies);
    const end = await measureCheckpoint(churn.completed, churnTallies, 'end of churn');
    const churnOpened = Object.values(churn.tallies).reduce((a, b) => a + b, 0);
    const netSeconds = churn.seconds - churn.pausedSeconds;
    result.figures.churn = {
      requested: opts.churn,
      completed: churn.completed,
      opened: churnOpened,
      seconds: Math.round(churn.seconds * 10) / 10,
      pausedSeconds: Math.round(churn.pausedSeconds * 10) / 10,
      ratePerSecond: Math.round(churn.completed / netSeconds),
      concurrency: opts.concurrency,
      openErrors: churn.openErrors,
      problems: churn.problems,
    };
    if (churn.deadlineHit) {
      check(`all ${opts.churn} churned`, false, result.figures.churn);
      throw new Error(`deadline: churned ${churn.completed} of ${opts.churn} in ${churn.seconds.toFixed(0)} s (${result.figures.churn.ratePerSecond}/s) before the --seconds ${opts.seconds} limit; raise --seconds or lower --churn`);
    }
    check(`all ${opts.churn} churned, each opened, echoed and closed as its scenario says`, churn.completed === opts.churn && churnOpened === opts.churn && churn.openErrors.count === 0 && churn.problems.count === 0, result.figures.churn);
    check('closes exact per series at every checkpoint (active = held)', checkpointErrors.length === 0 && result.checkpoints.length === points.length + 1 && result.checkpoints.every((c) => c.closesExact), {
      errors: checkpointErrors,
      measured: result.checkpoints.length,
      differ: result.checkpoints.filter((c) => !c.closesExact).map((c) => ({ label: c.label, diff: c.diff, active: c.active })),
    });
    check('no descriptor leaked during the churn (fds at every checkpoint <= fds while only holding)', result.checkpoints.every((c) => c.fds <= fdsHeld), { fdsHeld, atCheckpoints: result.checkpoints.map((c) => c.fds) });
    const first = result.checkpoints[0];
    const heapGrowthPct = ((end.heapMiB - first.heapMiB) / first.heapMiB) * 100;
    const rssGrowthPct = ((end.rssMiB - first.rssMiB) / first.rssMiB) * 100;
    check(`heap flat: after GC, end of churn within ${opts.heapLimitPct}% of checkpoint ${first.label}`, heapGrowthPct <= opts.heapLimitPct, { first: first.heapMiB, end: end.heapMiB, growthPct: Math.round(heapGrowthPct * 10) / 10 });
    // A quick run ends before V8's young generation and malloc have reached their steady size: its RSS is reported only.
    check(`RSS flat: end of churn within ${opts.rssLimitPct}% of checkpoint ${first.label}${opts.quick ? ' (reported only with --quick)' : ''}`, rssGrowthPct <= opts.rssLimitPct, { first: first.rssMiB, end: end.rssMiB, growthPct: Math.round(rssGrowthPct * 10) / 10 }, { enforced: !opts.quick });
    const pingAfterChurn = await client.request('pingHeld', { concurrency: opts.openConcurrency }, Math.max(1000, deadline.remaining()));
    check('held connections all echo after the churn, none closed early', pingAfterChurn.alive === hold.opened && pingAfterChurn.problems.count === 0 && pingAfterChurn.earlyCloses.count === 0, { alive: pingAfterChurn.alive, problems: pingAfterChurn.problems, earlyCloses: pingAfterChurn.earlyCloses });

    // 3. Release the held connections, with mixed codes too.
    phase = 'release';
    log(`closing the ${hold.opened} held connections`);
    const release = await client.request('release', { concurrency: opts.openConcurrency, deadlineMs: Math.max(1000, deadline.remaining() - 5000) }, Math.max(2000, deadline.remaining()));
    result.figures.release = { closed: release.closed, seconds: Math.round(release.seconds * 10) / 10, problems: release.problems };
    check('held connections closed as their scenarios say', release.closed === hold.opened && release.problems.count === 0 && release.earlyCloses.count === 0, result.figures.release);

    // 4. The end: exact totals, nothing open, descriptors back.
    phase = 'settle';
    const model = addCounts(addCounts({}, hold.tallies), churnTallies);
    const modelTotal = Object.values(model).reduce((a, b) => a + b, 0);
    let final;
    await pollUntil(async () => {
      final = await scrape();
      return final.active === 0 && final.closed >= modelTotal;
    }, Math.min(15_000, Math.max(0, deadline.remaining())));
    await sleep(100);
    final = await scrape();
    const finalDiff = diffCounts(model, final.closes);
    result.figures.closes = { opened: final.opened, closed: final.closed, active: final.active, model: modelTotal, series: Object.keys(final.closes).length, byScenarioKinds: MIX.length };
    result.figures.closesBySeries = final.closes;
    check('every close counted once: closes per series equal the model exactly', Object.keys(finalDiff).length === 0, finalDiff);
    check('opened = model, closed = opened, active = 0', final.opened === modelTotal && final.closed === final.opened && final.active === 0, { opened: final.opened, closed: final.closed, active: final.active, model: modelTotal });
    check('no upgrade failures and no protocol violations', Object.keys(final.failures).length === 0 && Object.keys(final.violations).length === 0, { failures: final.failures, violations: final.violations });
    let fdsAfter;
    await pollUntil(async () => (fdsAfter = await agentFds()) <= fdsBefore, Math.min(10_000, Math.max(0, deadline.remaining())));
    check('agent descriptors back to the baseline', fdsAfter <= fdsBefore, { before: fdsBefore, held: fdsHeld, after: fdsAfter });
    const up = await upstream.request('stats', {}, 5000);
    check('upstream: every connection closed', up.open === 0 && up.accepted === modelTotal, up);
    const memEnd = await measureMemory();
    phase = 'stop';

    scraping = false;
    await scrapeLoop;
    scrapeFigures();
    // p99, not max: on a shared machine a scheduling stall now and then also
    // delays the static control server (its max is in the figures); the max
    // is reported, and a scrape that fails or never answers fails the run.
    check(`/metrics answered every time, p99 within ${opts.scrapeLimitMs} ms`, scraper.failures.length === 0 && result.figures.scrape.p99Ms <= opts.scrapeLimitMs, result.figures.scrape);
    check('opened = closed + active in every scrape, counters never went down', scrapeState.inconsistent.length === 0 && scrapeState.nonMonotonic.length === 0, { scrapes: scrapeState.count, inconsistent: scrapeState.inconsistent, nonMonotonic: scrapeState.nonMonotonic });

    result.figures.peakConcurrent = { active: scrapeState.peakActive, held: hold.opened, churnConcurrency: opts.concurrency };
    result.figures.memory = {
      rssMiB: { start: mib(memStart.rss), held: mib(memHeld.rss), peak: mib(scrapeState.peakRss), firstCheckpoint: first.rssMiB, endOfChurn: end.rssMiB, afterRelease: mib(memEnd.rss) },
      heapAfterGcMiB: { start: mib(memStart.heapUsed), held: mib(memHeld.heapUsed), firstCheckpoint: first.heapMiB, endOfChurn: end.heapMiB, afterRelease: mib(memEnd.heapUsed) },
      heapGrowthPct: Math.round(heapGrowthPct * 10) / 10,
      rssGrowthPct: Math.round(rssGrowthPct * 10) / 10,
    };
    result.figures.fds = { before: fdsBefore, held: fdsHeld, after: fdsAfter };

    // 5. Stop the agent: it drains (nothing is open), exits 0 and logs its totals.
    process.kill(pid, 'SIGTERM');
    const exit = await withTimeout(agent.exited, 15_000, 'agent exit after SIGTERM');
    const logs = agent.logs();
    const stopped = logs.find((l) => l.msg === 'stopped');
    check('agent exits 0 on SIGTERM, its totals match', exit.code === 0 && stopped?.opened === modelTotal && stopped?.closed === modelTotal && stopped?.active === 0, { exit, stopped });
    const bad = logs.filter((l) => l.level === 'error' || l.level === 'warn' || /uncaught|unhandled/i.test(String(l.msg)));
    const stray = agent.stderrLines.filter((l) => !l.startsWith('{"soakProbe"'));
    const unparsed = agent.lines.filter((l) => {
      try {
        JSON.parse(l);
        return false;
      } catch {
        return true;
      }
    });
    check('no error or warning in the agent log, nothing else on its stdout/stderr', bad.length === 0 && stray.length === 0 && unparsed.length === 0, { logLines: bad.slice(0, 10), stderr: stray.slice(0, 10), stdout: unparsed.slice(0, 10) });
  } finally {
    clearInterval(ticker);
    scraping = false;
    if (!result.figures.scrape) scrapeFigures();
    scraper.close();
    controlScraper.close();
    await Promise.allSettled([client.stop(), upstream.stop(), control.stop()]);
    if (agent.proc.exitCode === null && agent.proc.signalCode === null) {
      agent.proc.kill('SIGKILL');
      await waitForExit(agent.proc, 5000);
    }
    result.seconds = Math.round(deadline.elapsed() * 10) / 10;
    result.machine.loadavgAtEnd = loadavg().map((x) => Math.round(x * 100) / 100);
  }
  result.ok = checks.length > 0 && checks.every((c) => c.ok || c.enforced === false);
  return result;
}

function formatSummary(r) {
  const f = r.figures;
  const rows = [];
  const row = (name, value) => rows.push([name, value]);
  if (f.peakConcurrent) row('peak concurrent (active gauge)', `${f.peakConcurrent.active} (${f.peakConcurrent.held} held + up to ${f.peakConcurrent.churnConcurrency} churning)`);
  if (f.hold) row('held open', `${f.hold.opened} in ${f.hold.seconds} s`);
  if (f.churn) row('churned', `${f.churn.completed.toLocaleString('en-US')} of ${f.churn.requested.toLocaleString('en-US')} in ${f.churn.seconds} s (${f.churn.pausedSeconds} s of it paused at checkpoints)`);
  if (f.churn) row('churn rate', `${f.churn.ratePerSecond}/s (${f.churn.concurrency} client loops)`);
  if (f.closes) row('closes', `${f.closes.closed.toLocaleString('en-US')} closed / ${f.closes.opened.toLocaleString('en-US')} opened / ${f.closes.active} active; model ${f.closes.model.toLocaleString('en-US')}; ${f.closes.series} series`);
  if (f.scrape) row('/metrics latency', `p50 ${f.scrape.p50Ms} ms, p99 ${f.scrape.p99Ms} ms, max ${f.scrape.maxMs} ms (${f.scrape.count} scrapes, limit ${f.scrape.limitMs} ms, ${f.scrape.over} over)`);
  if (f.scrape?.control) row('  control (static server)', `p50 ${f.scrape.control.p50Ms} ms, p99 ${f.scrape.control.p99Ms} ms, max ${f.scrape.control.maxMs} ms (${f.scrape.control.count} scrapes, ${f.scrape.control.over} over ${f.scrape.limitMs} ms)`);
  if (f.memory) {
    const m = f.memory;
    row('agent RSS', `start ${m.rssMiB.start}, holding ${m.rssMiB.held}, peak ${m.rssMiB.peak}, checkpoint 1 ${m.rssMiB.firstCheckpoint}, end of churn ${m.rssMiB.endOfChurn} (${m.rssGrowthPct >= 0 ? '+' : ''}${m.rssGrowthPct}%), after release ${m.rssMiB.afterRelease} MiB`);
    row('agent heap after GC', `start ${m.heapAfterGcMiB.start}, holding ${m.heapAfterGcMiB.held}, checkpoint 1 ${m.heapAfterGcMiB.firstCheckpoint}, end of churn ${m.heapAfterGcMiB.endOfChurn} (${m.heapGrowthPct >= 0 ? '+' : ''}${m.heapGrowthPct}%), after release ${m.heapAfterGcMiB.afterRelease} MiB`);
  }
  if (r.checkpoints.length > 0) row('heap at checkpoints', r.checkpoints.map((c) => `${c.label === 'end of churn' ? 'end' : c.label}: ${c.heapMiB}`).join(', ') + ' MiB');
  if (f.fds) row('agent descriptors', `before ${f.fds.before}, holding ${f.fds.held}, after ${f.fds.after}`);
  if (f.openFilesLimit) row('ulimit -n', `agent ${f.openFilesLimit.agent}, client ${f.openFilesLimit.client}, upstream ${f.openFilesLimit.upstream} (needed ${f.openFilesLimit.needed.agent}/${f.openFilesLimit.needed.client}/${f.openFilesLimit.needed.upstream})`);
  row('duration', `${r.seconds} s (limit ${r.options.seconds} s); load average ${r.machine.loadavgAtStart.join(' ')} -> ${(r.machine.loadavgAtEnd ?? []).join(' ')}`);
  const width = Math.max(...rows.map(([n]) => n.length));
  const lines = rows.map(([n, v]) => `  ${n.padEnd(width)}  ${v}`);
  lines.push('', '  checks:');
  for (const c of r.checks) lines.push(`    ${c.ok ? 'ok  ' : c.enforced === false ? 'note' : 'FAIL'}  ${c.name}${c.ok ? '' : `: ${JSON.stringify(c.detail).slice(0, 600)}`}`);
  if (r.error) lines.push(`    FAIL  ${r.error}`);
  lines.push('', `  ${r.ok ? 'PASS' : 'FAIL'}`);
  return lines.join('\n');
}

async function main() {
  const opts = parseFlags(process.argv.slice(2));
  const deadline = new Deadline(opts.seconds);
  const result = emptyResult(opts, deadline);
  // A last-resort watchdog: past the deadline plus a grace period, everything is killed.
  const watchdog = setTimeout(() => {
    process.stderr.write(`soak: hard deadline: still running ${opts.seconds + 30} s after the start (--seconds ${opts.seconds}); killing everything\n`);
    killAllChildren();
    process.exit(1);
  }, (opts.seconds + 30) * 1000);
  watchdog.unref();
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.once(sig, () => {
      killAllChildren();
      process.exit(130);
    });
  }
  try {
    await run(opts, deadline, result);
  } catch (err) {
    result.ok = false;
    result.error = err instanceof Error ? err.message : String(err);
  } finally {
    killAllChildren();
  }
  result.seconds ??= Math.round(deadline.elapsed() * 10) / 10;
  process.stdout.write(`\nsoak summary (${opts.quick ? 'quick' : `${opts.connections} held, ${opts.churn} churned`}):\n${formatSummary(result)}\n`);
  mkdirSync(dirname(opts.out), { recursive: true });
  writeFileSync(opts.out, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`written to ${opts.out}\n`);
  process.exitCode = result.ok ? 0 : 1;
}

await main();

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
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname } from 'node:path';
import { killAllChildren } from '../harness/children.mjs';
import { Deadline, parseFlags } from './lib/options.mjs';
import { stopProcesses } from './lib/procs.mjs';
import { checker, emptyResult, formatSummary, mib, passed, round1 } from './lib/report.mjs';
import { churn } from './phases/churn.mjs';
import { hold } from './phases/hold.mjs';
import { release } from './phases/release.mjs';
import { settle } from './phases/settle.mjs';
import { start } from './phases/start.mjs';
import { stop } from './phases/stop.mjs';

/** The run's shared state: options, deadline, result, checks and log, then the processes (procs) and the observer (obs). */
function createRun(opts, deadline, result) {
  return {
    opts,
    deadline,
    result,
    check: checker(result),
    log: (msg) => process.stdout.write(`[soak ${deadline.elapsed().toFixed(0).padStart(4)}s] ${msg}\n`),
    phase: 'start',
    progress: { started: 0, completed: 0, inFlight: 0, seconds: 0 },
    onCheckpoint: () => undefined,
    // Time kept at the end to release the held connections, settle and stop the agent.
    reserveMs: Math.min(45, Math.max(10, opts.seconds * 0.25)) * 1000,
  };
}

/** The phases in order; fills `result` as it goes (a failure leaves what was measured so far). */
async function runSoak(opts, deadline, result) {
  const run = createRun(opts, deadline, result);
  try {
    const baseline = await start(run);
    const held = await hold(run);
    const churned = await churn(run, held);
    await release(run, held);
    const settled = await settle(run, { baseline, held, churned });
    await stop(run, settled);
    result.figures.peakConcurrent = { active: run.obs.state.peakActive, held: held.opened, churnConcurrency: opts.concurrency };
    result.figures.memory = {
      rssMiB: {
        start: mib(baseline.mem.rss),
        held: mib(held.mem.rss),
        peak: mib(run.obs.state.peakRss),
        firstCheckpoint: churned.first.rssMiB,
        endOfChurn: churned.end.rssMiB,
        afterRelease: mib(settled.mem.rss),
      },
      heapAfterGcMiB: {
        start: mib(baseline.mem.heapUsed),
        held: mib(held.mem.heapUsed),
        firstCheckpoint: churned.first.heapMiB,
        endOfChurn: churned.end.heapMiB,
        afterRelease: mib(settled.mem.heapUsed),
      },
      heapGrowthPct: round1(churned.heapGrowthPct),
      rssGrowthPct: round1(churned.rssGrowthPct),
    };
  } finally {
    if (run.obs) {
      if (!result.figures.scrape) result.figures.scrape = run.obs.figures();
      run.obs.close();
    }
    if (run.procs) await stopProcesses(run.procs);
    result.seconds = round1(deadline.elapsed());
    result.machine.loadavgAtEnd = loadavg().map((x) => Math.round(x * 100) / 100);
  }
  result.ok = passed(result);
  return result;
}

async function main() {
  const opts = parseFlags(process.argv.slice(2));
  const deadline = new Deadline(opts.seconds);
  const result = emptyResult(opts, deadline);
  // A last-resort watchdog: past the deadline plus a grace period, everything is killed.
  const watchdog = setTimeout(
    () => {
      process.stderr.write(`soak: hard deadline: still running ${opts.seconds + 30} s after the start (--seconds ${opts.seconds}); killing everything\n`);
      killAllChildren();
      process.exit(1);
    },
    (opts.seconds + 30) * 1000,
  );
  watchdog.unref();
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.once(sig, () => {
      killAllChildren();
      process.exit(130);
    });
  }
  try {
    await runSoak(opts, deadline, result);
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

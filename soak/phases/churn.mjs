/**
 * Phase 2: churn --churn connections through the agent while the held ones
 * stay open. At every checkpoint the load client stops starting new
 * connections until those in flight are done; the agent's closes per series
 * are then compared exactly with the tallies, and its heap (after a GC),
 * RSS and descriptors read.
 */
import { pollUntil, sleep } from '../../harness/wait.mjs';
import { checkpointList } from '../lib/options.mjs';
import { mib, round1 } from '../lib/report.mjs';
import { addCounts, diffCounts } from '../lib/scenarios.mjs';

const total = (counts) => Object.values(counts).reduce((a, b) => a + b, 0);

/** Wait until the agent has recorded every churned close so far, then measure and compare. */
async function measureCheckpoint(run, held, completed, tallies, label) {
  const { deadline, obs } = run;
  run.phase = `checkpoint ${label}`;
  const expectedClosed = total(tallies);
  let s;
  const settled = await pollUntil(
    async () => {
      s = await obs.scrape();
      return s.closed >= expectedClosed && s.active === held.opened;
    },
    Math.min(10_000, Math.max(0, deadline.remaining())),
  );
  await sleep(30);
  const fds = await obs.fds();
  const mem = await obs.memory();
  s = mem.scrape;
  const diff = diffCounts(tallies, s.closes);
  const cp = {
    label,
    churned: completed,
    closesExact: settled && Object.keys(diff).length === 0 && s.closed === expectedClosed && s.active === held.opened,
    diff,
    opened: s.opened,
    closed: s.closed,
    active: s.active,
    heapMiB: mib(mem.heapUsed),
    rssMiB: mib(mem.rss),
    fds,
    elapsedS: Math.round(deadline.elapsed()),
  };
  run.result.checkpoints.push(cp);
  run.phase = 'churn';
  run.log(
    `checkpoint ${label}: churned ${completed}, closes ${cp.closesExact ? 'exact' : `DIFFER ${JSON.stringify(diff).slice(0, 300)}`}, active ${s.active}, heap ${cp.heapMiB} MiB, RSS ${cp.rssMiB} MiB, fds ${fds}`,
  );
  return cp;
}

export async function churn(run, held) {
  const { opts, deadline, procs, check, result } = run;
  const { client } = procs;
  run.phase = 'churn';
  const points = checkpointList(opts);
  let checkpointWork = Promise.resolve();
  const checkpointErrors = [];
  run.onCheckpoint = (data) => {
    checkpointWork = checkpointWork.then(async () => {
      try {
        await measureCheckpoint(run, held, data.completed, data.tallies, `${data.at}`);
      } catch (err) {
        checkpointErrors.push(`checkpoint ${data.at}: ${err.message}`);
      } finally {
        await client.request('resume', {}, 10_000).catch((err) => checkpointErrors.push(`resume after ${data.at}: ${err.message}`));
      }
    });
  };
  run.log(`churning ${opts.churn} connections (${opts.concurrency} at a time; checkpoints at ${points.join(', ')})`);
  const churnDeadlineMs = deadline.remaining() - run.reserveMs;
  const r = await client.request(
    'churn',
    {
      url: procs.agent.url,
      count: opts.churn,
      concurrency: opts.concurrency,
      startIndex: opts.connections,
      checkpoints: points,
      deadlineMs: churnDeadlineMs,
      progressMs: 1000,
    },
    churnDeadlineMs + 60_000,
  );
  await checkpointWork;
  const tallies = addCounts({}, r.tallies);
  const end = await measureCheckpoint(run, held, r.completed, tallies, 'end of churn');
  const opened = total(r.tallies);
  result.figures.churn = {
    requested: opts.churn,
    completed: r.completed,
    opened,
    seconds: round1(r.seconds),
    pausedSeconds: round1(r.pausedSeconds),
    ratePerSecond: Math.round(r.completed / (r.seconds - r.pausedSeconds)),
    concurrency: opts.concurrency,
    openErrors: r.openErrors,
    problems: r.problems,
  };
  if (r.deadlineHit) {
    check('churn-complete', `all ${opts.churn} churned`, false, result.figures.churn);
    throw new Error(
      `deadline: churned ${r.completed} of ${opts.churn} in ${r.seconds.toFixed(0)} s (${result.figures.churn.ratePerSecond}/s) before the --seconds ${opts.seconds} limit; raise --seconds or lower --churn`,
    );
  }
  check(
    'churn-complete',
    `all ${opts.churn} churned, each opened, echoed and closed as its scenario says`,
    r.completed === opts.churn && opened === opts.churn && r.openErrors.count === 0 && r.problems.count === 0,
    result.figures.churn,
  );
  check(
    'checkpoints-exact',
    'closes exact per series at every checkpoint (active = held)',
    checkpointErrors.length === 0 && result.checkpoints.length === points.length + 1 && result.checkpoints.every((c) => c.closesExact),
    {
      errors: checkpointErrors,
      measured: result.checkpoints.length,
      differ: result.checkpoints.filter((c) => !c.closesExact).map((c) => ({ label: c.label, diff: c.diff, active: c.active })),
    },
  );
  check(
    'churn-no-fd-leak',
    'no descriptor leaked during the churn (fds at every checkpoint <= fds while only holding)',
    result.checkpoints.every((c) => c.fds <= held.fds),
    { fdsHeld: held.fds, atCheckpoints: result.checkpoints.map((c) => c.fds) },
  );
  const first = result.checkpoints[0];
  const heapGrowthPct = ((end.heapMiB - first.heapMiB) / first.heapMiB) * 100;
  const rssGrowthPct = ((end.rssMiB - first.rssMiB) / first.rssMiB) * 100;
  check('heap-flat', `heap flat: after GC, end of churn within ${opts.heapLimitPct}% of checkpoint ${first.label}`, heapGrowthPct <= opts.heapLimitPct, {
    first: first.heapMiB,
    end: end.heapMiB,
    growthPct: round1(heapGrowthPct),
  });
  // A quick run ends before V8's young generation and malloc have reached their steady size: its RSS is reported only.
  check(
    'rss-flat',
    `RSS flat: end of churn within ${opts.rssLimitPct}% of checkpoint ${first.label}${opts.quick ? ' (reported only with --quick)' : ''}`,
    rssGrowthPct <= opts.rssLimitPct,
    { first: first.rssMiB, end: end.rssMiB, growthPct: round1(rssGrowthPct) },
    { enforced: !opts.quick },
  );
  const ping = await client.request('pingHeld', { concurrency: opts.openConcurrency }, Math.max(1000, deadline.remaining()));
  check(
    'held-echo-after-churn',
    'held connections all echo after the churn, none closed early',
    ping.alive === held.opened && ping.problems.count === 0 && ping.earlyCloses.count === 0,
    { alive: ping.alive, problems: ping.problems, earlyCloses: ping.earlyCloses },
  );
  return { tallies, first, end, heapGrowthPct, rssGrowthPct };
}

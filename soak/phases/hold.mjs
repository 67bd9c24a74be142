/** Phase 1: open --connections connections through the agent, each echoing one message, and keep them open. */
import { pollUntil, sleep } from '../../harness/wait.mjs';
import { mib, round1 } from '../lib/report.mjs';

export async function hold(run) {
  const { opts, deadline, procs, obs, check } = run;
  run.phase = 'hold';
  run.log(`opening ${opts.connections} connections (${opts.openConcurrency} handshakes at a time) and holding them`);
  const held = await procs.client.request(
    'hold',
    { url: procs.agent.url, count: opts.connections, concurrency: opts.openConcurrency, startIndex: 0, deadlineMs: deadline.remaining() - run.reserveMs },
    deadline.remaining(),
  );
  run.result.figures.hold = { opened: held.opened, seconds: round1(held.seconds), openErrors: held.openErrors, problems: held.problems };
  check(
    'hold-opened',
    `all ${opts.connections} held connections opened`,
    held.opened === opts.connections && held.held === opts.connections && held.openErrors.count === 0 && held.problems.count === 0,
    run.result.figures.hold,
  );
  if (held.deadlineHit)
    throw new Error(
      `deadline: only ${held.attempted} of ${opts.connections} held connections opened before the churn's share of --seconds ${opts.seconds} ran out`,
    );
  const active = await pollUntil(async () => (await obs.scrape()).active === held.opened, Math.min(10_000, deadline.remaining()));
  await sleep(50);
  const fds = await obs.fds();
  const mem = await obs.memory();
  const ping = await procs.client.request('pingHeld', { concurrency: opts.openConcurrency }, Math.max(1000, deadline.remaining()));
  check('hold-echo', 'held connections all echo after the hold', active && ping.alive === held.opened && ping.problems.count === 0, {
    active: obs.state.last.active,
    alive: ping.alive,
    problems: ping.problems,
  });
  run.log(
    `holding ${held.opened} (opened in ${held.seconds.toFixed(1)} s): ${fds} descriptors, RSS ${mib(mem.rss)} MiB, heap ${mib(mem.heapUsed)} MiB; all echo`,
  );
  deadline.check('the hold');
  return { opened: held.opened, tallies: held.tallies, fds, mem };
}

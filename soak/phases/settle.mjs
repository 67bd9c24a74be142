/**
 * Phase 4: once everything is closed, the totals must be exact: closes per
 * series equal the model, opened = model = closed, nothing active, no
 * failure or violation, the agent's descriptors back to the baseline and
 * nothing left open on the upstream.
 */
import { pollUntil, sleep } from '../../harness/wait.mjs';
import { MIX, addCounts, diffCounts } from '../lib/scenarios.mjs';

export async function settle(run, { baseline, held, churned }) {
  const { deadline, procs, obs, check, result } = run;
  run.phase = 'settle';
  const model = addCounts(addCounts({}, held.tallies), churned.tallies);
  const modelTotal = Object.values(model).reduce((a, b) => a + b, 0);
  await pollUntil(
    async () => {
      const s = await obs.scrape();
      return s.active === 0 && s.closed >= modelTotal;
    },
    Math.min(15_000, Math.max(0, deadline.remaining())),
  );
  await sleep(100);
  const final = await obs.scrape();
  const finalDiff = diffCounts(model, final.closes);
  result.figures.closes = {
    opened: final.opened,
    closed: final.closed,
    active: final.active,
    model: modelTotal,
    series: Object.keys(final.closes).length,
    byScenarioKinds: MIX.length,
  };
  result.figures.closesBySeries = final.closes;
  check('closes-exact', 'every close counted once: closes per series equal the model exactly', Object.keys(finalDiff).length === 0, finalDiff);
  check('totals', 'opened = model, closed = opened, active = 0', final.opened === modelTotal && final.closed === final.opened && final.active === 0, {
    opened: final.opened,
    closed: final.closed,
    active: final.active,
    model: modelTotal,
  });
  check(
    'no-failures',
    'no upgrade failures and no protocol violations',
    Object.keys(final.failures).length === 0 && Object.keys(final.violations).length === 0,
    { failures: final.failures, violations: final.violations },
  );
  let fdsAfter;
  await pollUntil(async () => (fdsAfter = await obs.fds()) <= baseline.fds, Math.min(10_000, Math.max(0, deadline.remaining())));
  check('fds-back', 'agent descriptors back to the baseline', fdsAfter <= baseline.fds, { before: baseline.fds, held: held.fds, after: fdsAfter });
  const up = await procs.upstream.request('stats', {}, 5000);
  check('upstream-closed', 'upstream: every connection closed', up.open === 0 && up.accepted === modelTotal, up);
  const mem = await obs.memory();
  result.figures.fds = { before: baseline.fds, held: held.fds, after: fdsAfter };
  return { modelTotal, mem };
}

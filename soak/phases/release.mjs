/** Phase 3: close the held connections, each the way its scenario says (mixed codes, both sides, terminations). */
import { round1 } from '../lib/report.mjs';

export async function release(run, held) {
  const { opts, deadline, procs, check, result } = run;
  run.phase = 'release';
  run.log(`closing the ${held.opened} held connections`);
  const r = await procs.client.request(
    'release',
    { concurrency: opts.openConcurrency, deadlineMs: Math.max(1000, deadline.remaining() - 5000) },
    Math.max(2000, deadline.remaining()),
  );
  result.figures.release = { closed: r.closed, seconds: round1(r.seconds), problems: r.problems };
  check(
    'release',
    'held connections closed as their scenarios say',
    r.closed === held.opened && r.problems.count === 0 && r.earlyCloses.count === 0,
    result.figures.release,
  );
}

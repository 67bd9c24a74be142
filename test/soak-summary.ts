/**
 * What the soak's JSON summary must hold, for the CI soak test: every check
 * of the driver by its stable id, exactly once, in the order the phases run.
 * A check that is missing fails the test as surely as one that failed.
 */

export interface SoakCheck {
  id: string;
  name: string;
  ok: boolean;
  /** false: reported, does not fail the run (RSS with --quick). */
  enforced?: false;
  detail: unknown;
}

/** Every check a complete soak run records, in order (the phase that records it in the comment). */
export const SOAK_CHECKS = [
  'fd-limits', // start
  'hold-opened', // hold
  'hold-echo',
  'churn-complete', // churn
  'checkpoints-exact',
  'churn-no-fd-leak',
  'heap-flat',
  'rss-flat',
  'held-echo-after-churn',
  'release', // release
  'closes-exact', // settle
  'totals',
  'no-failures',
  'fds-back',
  'upstream-closed',
  'scrape-answered', // stop
  'scrape-latency', // stop
  'scrape-consistent',
  'agent-exit',
  'agent-log-clean',
] as const;

export type SoakCheckId = (typeof SOAK_CHECKS)[number];

/** The checks a --quick run reports without enforcing them. */
export const REPORTED_ONLY_WHEN_QUICK: readonly SoakCheckId[] = ['rss-flat', 'scrape-latency'];

/** The one check with `id`; throws when there is none or more than one. */
export function checkOf(checks: readonly SoakCheck[], id: SoakCheckId): SoakCheck {
  const found = checks.filter((c) => c.id === id);
  if (found.length !== 1)
    throw new Error(`the soak summary has ${found.length} checks "${id}" (want exactly 1); it has: ${checks.map((c) => c.id).join(', ') || 'none'}`);
  return found[0] as SoakCheck;
}

/**
 * What is wrong with the list of checks of a --quick run's summary: a check
 * missing, unexpected, repeated, out of order, or not enforced when it must
 * be. (Whether they passed is asserted apart, with their details.)
 */
export function soakCheckProblems(checks: readonly SoakCheck[]): string[] {
  const problems: string[] = [];
  const ids = checks.map((c) => c.id);
  for (const id of SOAK_CHECKS) {
    const n = ids.filter((x) => x === id).length;
    if (n === 0) problems.push(`missing check ${id}`);
    if (n > 1) problems.push(`check ${id} recorded ${n} times`);
  }
  for (const id of ids) if (!(SOAK_CHECKS as readonly string[]).includes(id)) problems.push(`unexpected check ${id}`);
  if (problems.length === 0 && ids.join() !== SOAK_CHECKS.join()) problems.push(`checks out of order: ${ids.join(', ')}`);
  for (const c of checks) {
    const reportedOnly = (REPORTED_ONLY_WHEN_QUICK as readonly string[]).includes(c.id);
    if (reportedOnly && c.enforced !== false) problems.push(`check ${c.id} is enforced, but a --quick run only reports it`);
    if (!reportedOnly && c.enforced === false) problems.push(`check ${c.id} is not enforced`);
  }
  return problems;
}

/** The enforced checks that failed. */
export function failedChecks(checks: readonly SoakCheck[]): SoakCheck[] {
  return checks.filter((c) => !c.ok && c.enforced !== false);
}

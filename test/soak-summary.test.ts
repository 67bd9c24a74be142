/**
 * The CI soak test's judge of the driver's summary (test/soak-summary.ts),
 * on summaries made up here: a check that is missing, renamed, repeated or
 * not enforced fails it, not only a check that failed.
 */
import { describe, expect, it } from 'vitest';
import { REPORTED_ONLY_WHEN_QUICK, SOAK_CHECKS, checkOf, failedChecks, soakCheckProblems, type SoakCheck } from './soak-summary.js';

const complete = (): SoakCheck[] =>
  SOAK_CHECKS.map((id) =>
    REPORTED_ONLY_WHEN_QUICK.includes(id)
      ? { id, name: `${id} (reported only)`, ok: false, enforced: false, detail: {} }
      : { id, name: id, ok: true, detail: {} },
  );

describe('soak summary checks', () => {
  it('accepts a complete summary in which every enforced check passed', () => {
    expect(soakCheckProblems(complete())).toEqual([]);
  });

  it('rejects a summary with no checks at all', () => {
    expect(soakCheckProblems([])).toEqual(SOAK_CHECKS.map((id) => `missing check ${id}`));
  });

  it('rejects a summary without the churn and hold checks (what a name-prefix filter let pass)', () => {
    const checks = complete().filter((c) => !['hold-opened', 'churn-complete'].includes(c.id));
    expect(soakCheckProblems(checks)).toEqual(['missing check hold-opened', 'missing check churn-complete']);
  });

  it('rejects a renamed, a repeated and a reordered check', () => {
    const renamed = complete().map((c) => (c.id === 'agent-exit' ? { ...c, id: 'agent-exit-0' } : c));
    expect(soakCheckProblems(renamed)).toEqual(['missing check agent-exit', 'unexpected check agent-exit-0']);
    const repeated = [...complete(), { id: 'release', name: 'release', ok: true, detail: {} }];
    expect(soakCheckProblems(repeated)).toEqual(['check release recorded 2 times']);
    const reordered = complete().reverse();
    expect(soakCheckProblems(reordered)).toEqual([`checks out of order: ${[...SOAK_CHECKS].reverse().join(', ')}`]);
  });

  it('rejects a failed check, and an enforced check that was only reported', () => {
    const failed = complete().map((c) => (c.id === 'fds-back' ? { ...c, ok: false } : c));
    expect(failedChecks(failed).map((c) => c.id)).toEqual(['fds-back']);
    expect(failedChecks(complete())).toEqual([]); // the reported-only check failed, and does not count
    const notEnforced = complete().map((c): SoakCheck => (c.id === 'heap-flat' ? { ...c, enforced: false } : c));
    expect(soakCheckProblems(notEnforced)).toEqual(['check heap-flat is not enforced']);
  });

  it('finds a check by id only when it is there exactly once', () => {
    expect(checkOf(complete(), 'totals').id).toBe('totals');
    expect(() => checkOf([], 'totals')).toThrow(/0 checks "totals"/);
    const twice = [...complete(), { id: 'totals', name: 'totals', ok: true, detail: {} }];
    expect(() => checkOf(twice, 'totals')).toThrow(/2 checks "totals"/);
  });
});

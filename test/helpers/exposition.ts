/**
 * Read Prometheus exposition back into numbers (the shared harness parser), and check it:
 * with the strict checker in JavaScript (unit tests, no Debian package needed) or with the
 * real promtool (end-to-end tests).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkExposition as check, type ExpositionOptions, type ExpositionSummary } from '../../harness/exposition-check.mjs';

export { closesByLabels, parseExposition, sumOf, type Sample } from '../../harness/exposition.mjs';
export { inspectExposition } from '../../harness/exposition-check.mjs';

/**
 * Set by test/exposition-promtool.e2e.test.ts when it runs the unit project: every
 * exposition the checker accepts is kept there (one file per distinct text) so that
 * promtool then checks the very same texts. Not a WS_CLOSE_AGENT_* name: the agent
 * refuses environment variables of its prefix that are no flag of its own.
 */
export const CAPTURE_ENV = 'EXPOSITION_CAPTURE_DIR';

/** Check an exposition strictly (see harness/exposition-check.mjs); throws listing every problem. */
export function checkExposition(text: string, options?: ExpositionOptions): ExpositionSummary {
  const result = check(text, options);
  const dir = process.env[CAPTURE_ENV];
  if (dir !== undefined && dir !== '') {
    const name = createHash('sha256').update(text).digest('hex').slice(0, 32);
    writeFileSync(join(dir, `${name}.${result.format === 'openmetrics' ? 'om' : 'txt'}`), text);
  }
  return result;
}

/** Run `promtool check metrics` on an exposition; returns its output, throws when it fails. */
export function promtoolCheckMetrics(text: string): string {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 20_000 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`promtool check metrics failed (${r.status}):\n${r.stdout}${r.stderr}`);
  return r.stdout + r.stderr;
}

/** For end-to-end tests: both promtool and the JavaScript checker accept the exposition. */
export function checkExpositionWithPromtool(text: string): void {
  promtoolCheckMetrics(text);
  checkExposition(text);
}

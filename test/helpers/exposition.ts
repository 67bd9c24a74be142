/** Read Prometheus text exposition back into numbers (the shared harness parser), and check it with promtool. */
import { spawnSync } from 'node:child_process';

export { closesByLabels, parseExposition, sumOf, type Sample } from '../../harness/exposition.mjs';

/** Run `promtool check metrics` on an exposition; returns its output, throws when it fails. */
export function promtoolCheckMetrics(text: string): string {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 20_000 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`promtool check metrics failed (${r.status}):\n${r.stdout}${r.stderr}`);
  return r.stdout + r.stderr;
}

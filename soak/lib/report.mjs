/**
 * The soak's result: the JSON summary it fills as it goes (figures,
 * checkpoints, checks), the checks themselves, and the summary as text.
 */
import { cpus, loadavg } from 'node:os';

const MiB = 1024 * 1024;
export const mib = (bytes) => (Number.isFinite(bytes) ? Math.round((bytes / MiB) * 10) / 10 : null);
export const ms2 = (x) => (Number.isFinite(x) ? Math.round(x * 100) / 100 : null);
export const round1 = (x) => Math.round(x * 10) / 10;

/** The summary before anything ran. */
export function emptyResult(opts, deadline) {
  return {
    startedAt: new Date(deadline.start).toISOString(),
    command: `node soak/run.mjs ${process.argv.slice(2).join(' ')}`.trim(),
    options: { ...opts, out: undefined },
    machine: {
      cpu: cpus()[0]?.model ?? 'unknown',
      cores: cpus().length,
      node: process.version,
      loadavgAtStart: loadavg().map((x) => Math.round(x * 100) / 100),
    },
    figures: {},
    checkpoints: [],
    checks: [],
    ok: false,
  };
}

/**
 * Record checks into `result.checks`: check(id, name, ok, detail, { enforced }).
 * `id` is stable (the CI test asserts the list); `name` says what was checked
 * with this run's numbers; `enforced: false` reports without failing the run.
 * Returns `ok`.
 */
export function checker(result) {
  return (id, name, ok, detail, { enforced = true } = {}) => {
    result.checks.push(enforced ? { id, name, ok: Boolean(ok), detail } : { id, name, ok: Boolean(ok), enforced: false, detail });
    return ok;
  };
}

/** Every check recorded and none failed that is enforced. */
export function passed(result) {
  return result.checks.length > 0 && result.checks.every((c) => c.ok || c.enforced === false);
}

export function formatSummary(r) {
  const f = r.figures;
  const rows = [];
  const row = (name, value) => rows.push([name, value]);
  if (f.peakConcurrent)
    row('peak concurrent (active gauge)', `${f.peakConcurrent.active} (${f.peakConcurrent.held} held + up to ${f.peakConcurrent.churnConcurrency} churning)`);
  if (f.hold) row('held open', `${f.hold.opened} in ${f.hold.seconds} s`);
  if (f.churn)
    row(
      'churned',
      `${f.churn.completed.toLocaleString('en-US')} of ${f.churn.requested.toLocaleString('en-US')} in ${f.churn.seconds} s (${f.churn.pausedSeconds} s of it paused at checkpoints)`,
    );
  if (f.churn) row('churn rate', `${f.churn.ratePerSecond}/s (${f.churn.concurrency} client loops)`);
  if (f.closes)
    row(
      'closes',
      `${f.closes.closed.toLocaleString('en-US')} closed / ${f.closes.opened.toLocaleString('en-US')} opened / ${f.closes.active} active; model ${f.closes.model.toLocaleString('en-US')}; ${f.closes.series} series`,
    );
  if (f.scrape)
    row(
      '/metrics latency',
      `p50 ${f.scrape.p50Ms} ms, p99 ${f.scrape.p99Ms} ms, max ${f.scrape.maxMs} ms (${f.scrape.count} scrapes, limit ${f.scrape.limitMs} ms, ${f.scrape.over} over)`,
    );
  if (f.scrape?.control)
    row(
      '  control (static server)',
      `p50 ${f.scrape.control.p50Ms} ms, p99 ${f.scrape.control.p99Ms} ms, max ${f.scrape.control.maxMs} ms (${f.scrape.control.count} scrapes, ${f.scrape.control.over} over ${f.scrape.limitMs} ms)`,
    );
  if (f.memory) {
    const m = f.memory;
    row(
      'agent RSS',
      `start ${m.rssMiB.start}, holding ${m.rssMiB.held}, peak ${m.rssMiB.peak}, checkpoint 1 ${m.rssMiB.firstCheckpoint}, end of churn ${m.rssMiB.endOfChurn} (${m.rssGrowthPct >= 0 ? '+' : ''}${m.rssGrowthPct}%), after release ${m.rssMiB.afterRelease} MiB`,
    );
    row(
      'agent heap after GC',
      `start ${m.heapAfterGcMiB.start}, holding ${m.heapAfterGcMiB.held}, checkpoint 1 ${m.heapAfterGcMiB.firstCheckpoint}, end of churn ${m.heapAfterGcMiB.endOfChurn} (${m.heapGrowthPct >= 0 ? '+' : ''}${m.heapGrowthPct}%), after release ${m.heapAfterGcMiB.afterRelease} MiB`,
    );
  }
  if (r.checkpoints.length > 0)
    row('heap at checkpoints', r.checkpoints.map((c) => `${c.label === 'end of churn' ? 'end' : c.label}: ${c.heapMiB}`).join(', ') + ' MiB');
  if (f.fds) row('agent descriptors', `before ${f.fds.before}, holding ${f.fds.held}, after ${f.fds.after}`);
  if (f.openFilesLimit)
    row(
      'ulimit -n',
      `agent ${f.openFilesLimit.agent}, client ${f.openFilesLimit.client}, upstream ${f.openFilesLimit.upstream} (needed ${f.openFilesLimit.needed.agent}/${f.openFilesLimit.needed.client}/${f.openFilesLimit.needed.upstream})`,
    );
  row(
    'duration',
    `${r.seconds} s (limit ${r.options.seconds} s); load average ${r.machine.loadavgAtStart.join(' ')} -> ${(r.machine.loadavgAtEnd ?? []).join(' ')}`,
  );
  const width = Math.max(...rows.map(([n]) => n.length));
  const lines = rows.map(([n, v]) => `  ${n.padEnd(width)}  ${v}`);
  lines.push('', '  checks:');
  for (const c of r.checks)
    lines.push(`    ${c.ok ? 'ok  ' : c.enforced === false ? 'note' : 'FAIL'}  ${c.name}${c.ok ? '' : `: ${JSON.stringify(c.detail).slice(0, 600)}`}`);
  if (r.error) lines.push(`    FAIL  ${r.error}`);
  lines.push('', `  ${r.ok ? 'PASS' : 'FAIL'}`);
  return lines.join('\n');
}

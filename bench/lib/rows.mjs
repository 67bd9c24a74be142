/**
 * Result rows and the table. A row compares "ours" with a baseline measured
 * in the same run: both are per-round samples, summarised as median and
 * min-max; the ratio is the median of the per-round ours/baseline ratios
 * (rounds are interleaved, so each ratio pairs neighbouring measurements).
 */
import { pairRatios } from './rounds.mjs';
import { summarize } from '../../harness/stats.mjs';

/**
 * A comparison row. `check({ ours, baseline, ratio })` gets medians and says
 * whether the target is met; without `check` the row is informational.
 */
export function compareRow({ caseId, name, unit, oursLabel = 'ours', baselineLabel, ours, baseline, target = '(info)', check, note }) {
  const o = summarize(ours);
  const b = summarize(baseline);
  const ratio = summarize(pairRatios(ours, baseline));
  const met = check ? Boolean(check({ ours: o.median, baseline: b.median, ratio: ratio.median })) : null;
  return { case: caseId, name, unit, oursLabel, baselineLabel, ours: o, baseline: b, ratio, target, met, note };
}

/** A row that could not be measured (nginx missing, an error). */
export function skippedRow({ caseId, name, reason, status = 'skipped' }) {
  return { case: caseId, name, target: '', met: status, note: reason };
}

function formatNumber(x) {
  if (!Number.isFinite(x)) return '-';
  const a = Math.abs(x);
  if (a >= 10_000) return Math.round(x).toLocaleString('en-US');
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  return x.toPrecision(2);
}

function formatSummary(s, unit) {
  if (!s || s.n === 0) return '-';
  const range = s.n > 1 ? ` [${formatNumber(s.min)}–${formatNumber(s.max)}]` : '';
  return `${formatNumber(s.median)} ${unit}${range}`;
}

function formatMet(met) {
  if (met === true) return 'yes';
  if (met === false) return 'NO';
  if (met === null) return '-';
  return met;
}

/** The table as text: one line per row, then the notes. */
export function formatTable(rows) {
  const header = ['case', 'ours', 'baseline', 'ratio', 'target', 'met'];
  const lines = rows.map((r) => [
    `${r.case} ${r.name}`,
    r.ours ? `${r.oursLabel}: ${formatSummary(r.ours, r.unit)}` : '-',
    r.baseline ? `${r.baselineLabel}: ${formatSummary(r.baseline, r.unit)}` : '-',
    r.ratio && r.ratio.n > 0 ? `${formatNumber(r.ratio.median)}${r.ratio.n > 1 ? ` [${formatNumber(r.ratio.min)}–${formatNumber(r.ratio.max)}]` : ''}` : '-',
    r.target ?? '',
    formatMet(r.met),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const fmt = (cells) =>
    cells
      .map((c, i) => c.padEnd(widths[i]))
      .join(' | ')
      .trimEnd();
  const out = [fmt(header), widths.map((w) => '-'.repeat(w)).join('-|-'), ...lines.map(fmt)];
  const notes = rows.filter((r) => r.note).map((r) => `  ${r.case} ${r.name}: ${r.note}`);
  if (notes.length > 0) out.push('', 'notes:', ...notes);
  return out.join('\n');
}

/**
 * Result rows and the table. A row compares "ours" with a baseline measured
 * in the same run: both are per-round samples, summarised as median and
 * min-max; the ratio is the median of the per-round ours/baseline ratios
 * (rounds are interleaved, so each ratio pairs neighbouring measurements).
 */
import { pairRatios } from './rounds.mjs';
import { summarize } from '../../harness/stats.mjs';

/** Where a target stays out of reach, the agent must be within this of the bare Node relay. */
export const FLOOR_TOLERANCE = 0.05;

/**
 * A comparison row. `check({ ours, baseline, ratio })` gets medians and says
 * whether the target is met; without `check` the row is informational.
 * `floor` ({ label, values, better: 'lower' | 'higher' }) adds the same
 * measurement of the bare Node relay from the same rounds: the row then also
 * says whether ours is within FLOOR_TOLERANCE of it (per-round ratios,
 * median), the fallback target of the proxy rows.
 */
export function compareRow({ caseId, name, unit, oursLabel = 'ours', baselineLabel, ours, baseline, target = '(info)', check, note, floor }) {
  const o = summarize(ours);
  const b = summarize(baseline);
  const ratio = summarize(pairRatios(ours, baseline));
  const met = check ? Boolean(check({ ours: o.median, baseline: b.median, ratio: ratio.median })) : null;
  const row = { case: caseId, name, unit, oursLabel, baselineLabel, ours: o, baseline: b, ratio, target, met, note };
  if (floor && floor.values.length > 0) {
    const floorRatio = summarize(pairRatios(ours, floor.values));
    const limit = floor.better === 'higher' ? 1 - FLOOR_TOLERANCE : 1 + FLOOR_TOLERANCE;
    Object.assign(row, {
      floorLabel: floor.label,
      floor: summarize(floor.values),
      floorRatio,
      floorTarget: `${floor.better === 'higher' ? '≥' : '≤'} ${limit.toFixed(2)}`,
      atFloor: floor.better === 'higher' ? floorRatio.median >= limit : floorRatio.median <= limit,
    });
  }
  return row;
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

function formatRatio(r) {
  if (!r || r.n === 0) return '-';
  return `${formatNumber(r.median)}${r.n > 1 ? ` [${formatNumber(r.min)}–${formatNumber(r.max)}]` : ''}`;
}

/**
 * The table as text: one line per row, then the notes. When some row has a
 * floor (the bare Node relay), two more columns: the relay's figure, and
 * ours/relay against the floor tolerance with whether it holds.
 */
export function formatTable(rows) {
  const withFloor = rows.some((r) => r.floor);
  const header = ['case', 'ours', 'baseline', 'ratio', 'target', 'met', ...(withFloor ? ['floor (bare relay)', 'vs floor'] : [])];
  const lines = rows.map((r) => [
    `${r.case} ${r.name}`,
    r.ours ? `${r.oursLabel}: ${formatSummary(r.ours, r.unit)}` : '-',
    r.baseline ? `${r.baselineLabel}: ${formatSummary(r.baseline, r.unit)}` : '-',
    formatRatio(r.ratio),
    r.target ?? '',
    formatMet(r.met),
    ...(withFloor
      ? [
          r.floor ? `${r.floorLabel}: ${formatSummary(r.floor, r.unit)}` : '-',
          r.floor ? `${formatRatio(r.floorRatio)} ${r.floorTarget}: ${formatMet(r.atFloor)}` : '-',
        ]
      : []),
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

/** Order statistics of samples (benchmark rounds, scrape latencies). */

/** Percentile `p` (0-100) of an ascending array, by linear interpolation between ranks. */
export function percentileOfSorted(sorted, p) {
  if (sorted.length === 0) return NaN;
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo);
}

export function percentile(values, p) {
  return percentileOfSorted(Float64Array.from(values).sort(), p);
}

export function median(values) {
  return percentile(values, 50);
}

/** { median, min, max, n } of the finite values. */
export function summarize(values) {
  const finite = values.filter((v) => Number.isFinite(v));
  if (finite.length === 0) return { median: NaN, min: NaN, max: NaN, n: 0 };
  return { median: median(finite), min: Math.min(...finite), max: Math.max(...finite), n: finite.length };
}

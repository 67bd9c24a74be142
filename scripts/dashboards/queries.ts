/**
 * PromQL shared by the dashboards: every selector carries the dashboard's
 * `job`, `instance` and (optional) `cluster` filters; rates use Grafana's $__rate_interval.
 * Counters only have series once something happened, so shares fall back
 * to 0 for a missing numerator and to "no data" (not NaN) for no closes.
 */
import { DEFAULT_PREFIX, metricNames } from '../../src/codes/vocabulary.js';
import { ABNORMAL_CODE, ERROR_CODENAME_REGEX } from '../alerts/close-classes.js';
import type { Query } from './grafana.js';

export const METRICS = metricNames(DEFAULT_PREFIX);

// `cluster` is optional: its `All` is `.*`, which also matches series without the label.
const FILTER = ['job=~"$job"', 'instance=~"$instance"', 'cluster=~"$cluster"'];

/** `metric{job=~"$job", instance=~"$instance", ...extra}` */
export function selector(metric: string, ...extra: string[]): string {
  return `${metric}{${[...FILTER, ...extra].join(', ')}}`;
}

export function rate(metric: string, ...extra: string[]): string {
  return `rate(${selector(metric, ...extra)}[$__rate_interval])`;
}

export function increaseOverRange(metric: string, ...extra: string[]): string {
  return `increase(${selector(metric, ...extra)}[$__range])`;
}

export const ABNORMAL_MATCHER = `code="${ABNORMAL_CODE}"`;
export const ERROR_MATCHER = `codename=~"${ERROR_CODENAME_REGEX}"`;

/** `sum by (by) (rate(metric))`, one series without `by`. */
export function sumRate(metric: string, by: string, ...extra: string[]): string {
  const grouping = by === '' ? '' : ` by (${by})`;
  return `sum${grouping} (${rate(metric, ...extra)})`;
}

/** Closes per second, summed `by` the given labels (none: one series). */
export function closeRate(by: string, ...extra: string[]): string {
  return sumRate(METRICS.closedTotal, by, ...extra);
}

/** `numerator / denominator`, 0 when the numerator has no series, no data (not NaN) when the denominator is 0. */
export function share(numerator: string, denominator: string): string {
  return `(${numerator} or vector(0))\n/\n(${denominator} > 0)`;
}

/** Share of all closes that match `matchers`. */
export function closeShare(...matchers: string[]): string {
  return share(closeRate('', ...matchers), closeRate(''));
}

/** A quantile of a histogram, per `by` label (plus le). */
export function histogramQuantile(quantile: number, metric: string, by: string, ...extra: string[]): string {
  const grouping = by === '' ? 'le' : `${by}, le`;
  return `histogram_quantile(${quantile}, sum by (${grouping}) (${rate(`${metric}_bucket`, ...extra)}))`;
}

/** A quantile of connection duration, per `by` label (plus le). */
export function durationQuantile(quantile: number, by: string, ...extra: string[]): string {
  return histogramQuantile(quantile, METRICS.durationSeconds, by, ...extra);
}

/** One query per quantile, legends `<legend>p50`, `<legend>p99`...; `expr` writes the quantile's PromQL. */
export function quantileQueries(quantiles: readonly number[], legend: string, expr: (quantile: number) => string): Query[] {
  return quantiles.map((quantile) => ({ expr: expr(quantile), legend: `${legend}p${Math.round(quantile * 100)}` }));
}

/** Observations per bucket of a histogram, for a heatmap. */
export function bucketIncrease(metric: string, ...extra: string[]): string {
  return `sum by (le) (increase(${selector(`${metric}_bucket`, ...extra)}[$__rate_interval]))`;
}

/** Closes per bucket of duration, for a heatmap. */
export function durationHeatmap(...extra: string[]): string {
  return bucketIncrease(METRICS.durationSeconds, ...extra);
}

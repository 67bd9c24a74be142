/**
 * PromQL shared by the dashboards: every selector carries the dashboard's
 * `job`, `instance` and (optional) `cluster` filters; rates use Grafana's $__rate_interval.
 * Counters only have series once something happened, so shares fall back
 * to 0 for a missing numerator and to "no data" (not NaN) for no closes.
 */
import { DEFAULT_PREFIX, metricNames } from '../../src/codes/vocabulary.js';
import { ABNORMAL_CODE, ERROR_CODENAME_REGEX } from '../alerts/close-classes.js';

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

/** Closes per second, summed `by` the given labels (none: one series). */
export function closeRate(by: string, ...extra: string[]): string {
  const grouping = by === '' ? '' : ` by (${by})`;
  return `sum${grouping} (${rate(METRICS.closedTotal, ...extra)})`;
}

/** Share of all closes that match `matchers` (0 when none did, no data without closes). */
export function closeShare(...matchers: string[]): string {
  return `(${closeRate('', ...matchers)} or vector(0))\n/\n(${closeRate('')} > 0)`;
}

/** A quantile of connection duration, per `by` label (plus le). */
export function durationQuantile(quantile: number, by: string, ...extra: string[]): string {
  const grouping = by === '' ? 'le' : `${by}, le`;
  return `histogram_quantile(${quantile}, sum by (${grouping}) (${rate(`${METRICS.durationSeconds}_bucket`, ...extra)}))`;
}

/** Closes per bucket of duration, for a heatmap. */
export function durationHeatmap(...extra: string[]): string {
  return `sum by (le) (increase(${selector(`${METRICS.durationSeconds}_bucket`, ...extra)}[$__rate_interval]))`;
}

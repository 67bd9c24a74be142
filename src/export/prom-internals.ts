/**
 * The one place that reaches into prom-client beyond its typings. Pinned by
 * test/prom-internals.test.ts against every supported prom-client major
 * (14 and 15): if a release moves these, that test fails first.
 *
 * - A registry's default labels (`setDefaultLabels`) are kept in
 *   `_defaultLabels`; there is no getter.
 * - `getMetricsAsString(metric)` (15; `getMetricAsPrometheusString` in 14)
 *   formats one metric the way `metrics()` does; it is how the other metrics
 *   of a registry are rendered in its order without rendering all of them.
 * - 14 has no OpenMetrics: `Registry.OPENMETRICS_CONTENT_TYPE` is undefined.
 */
import type { Registry, RegistryContentType } from 'prom-client';

/** A prom-client registry of either content type. */
export type AnyRegistry = Registry<RegistryContentType>;

/** The registry's default labels, as prom-client applies them; undefined when there are none. */
export function defaultLabelsOf(registry: AnyRegistry): Readonly<Record<string, unknown>> | undefined {
  const defaults = (registry as unknown as { _defaultLabels?: Record<string, unknown> | null })._defaultLabels;
  return defaults !== undefined && defaults !== null && Object.keys(defaults).length > 0 ? defaults : undefined;
}

/** prom-client's own text for one metric (HELP, TYPE and samples, no trailing newline), as `registry` formats it. */
export function formatOneMetric(registry: AnyRegistry, metric: unknown): Promise<string> {
  type Formatter = (this: AnyRegistry, metric: unknown) => Promise<string>;
  const r = registry as unknown as { getMetricsAsString?: Formatter; getMetricAsPrometheusString?: Formatter };
  const format = r.getMetricsAsString ?? r.getMetricAsPrometheusString;
  if (format === undefined) return Promise.reject(new Error('this prom-client has no per-metric formatter (supported: prom-client 14 and 15)'));
  return format.call(registry, metric);
}

/** The exposition content types, spelled as prom-client 15 does (14 has only the first). */
export const TEXT_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
export const OPENMETRICS_CONTENT_TYPE = 'application/openmetrics-text; version=1.0.0; charset=utf-8';

/**
 * The plain Registry class of the prom-client that made `registry` (the
 * app's own copy, of either major): the class whose prototype defines
 * getMetricsAsArray, not a subclass such as AggregatorRegistry, whose
 * constructor installs cluster listeners.
 */
export function registryClassOf(registry: AnyRegistry): typeof Registry {
  for (let p = Object.getPrototypeOf(registry) as object | null; p !== null; p = Object.getPrototypeOf(p) as object | null) {
    if (Object.prototype.hasOwnProperty.call(p, 'getMetricsAsArray')) return (p as { constructor: typeof Registry }).constructor;
  }
  throw new TypeError('not a prom-client Registry');
}

/** Whether the prom-client that made `registry` can render OpenMetrics (15 can, 14 cannot). */
export function supportsOpenMetrics(registry: AnyRegistry): boolean {
  return typeof (registryClassOf(registry) as { OPENMETRICS_CONTENT_TYPE?: unknown }).OPENMETRICS_CONTENT_TYPE === 'string';
}

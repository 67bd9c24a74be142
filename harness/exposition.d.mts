export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}
export type Counts = Record<string, number>;
export interface MetricsFigures {
  opened: number;
  closed: number;
  active: number;
  heapUsed: number;
  closes: Counts;
  violations: Counts;
  failures: Counts;
}
/** Every sample of the text. Throws on a line that is not a sample, a comment or empty. */
export function parseExposition(text: string): Sample[];
/** Sum of the samples of `name` whose labels include `match`. */
export function sumOf(samples: Sample[], name: string, match?: Record<string, string>): number;
/** Non-zero closed-total series as "code codename category initiator" -> count. */
export function closesByLabels(samples: Sample[], prefix?: string): Counts;
/** Protocol violations as "side kind" -> count. */
export function violationsByLabels(samples: Sample[], options?: { skipZero?: boolean }, prefix?: string): Counts;
/** Upgrade failures as reason -> count. */
export function failuresByLabels(samples: Sample[], options?: { skipZero?: boolean }, prefix?: string): Counts;
/** The connection counters, the heap, and non-zero closes, violations and failures. */
export function metricsFigures(samples: Sample[], prefix?: string): MetricsFigures;
/** `after - before` per key, without zero entries. */
export function countsDelta(before: Counts, after: Counts): Counts;

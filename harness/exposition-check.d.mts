export interface SampleLine {
  name: string;
  labels: [string, string][];
  value: string;
  timestamp: string | undefined;
}
export type ExpositionFormat = 'text' | 'openmetrics';
export interface ExpositionOptions {
  /** By default OpenMetrics when the text ends with "# EOF", else the text format. */
  format?: ExpositionFormat;
}
export interface ExpositionSummary {
  format: ExpositionFormat;
  families: number;
  samples: number;
}
/** One sample line, strictly; throws an Error saying what is wrong and where. */
export function readSampleLine(line: string, options?: { openMetrics?: boolean }): SampleLine;
/** Every problem of the exposition, as messages naming the line or the family. */
export function inspectExposition(text: string, options?: ExpositionOptions): ExpositionSummary & { problems: string[] };
/** Throws an Error listing every problem; returns the format and sizes when there is none. */
export function checkExposition(text: string, options?: ExpositionOptions): ExpositionSummary;
